package v1

import (
	"encoding/json"
	"fmt"
	"math"
)

// RelativeAccuracy is the sketch's guaranteed relative error on any quantile of the recorded
// values within [MinValue, MaxValue]. It is below the 1% the API promises so that floating-point
// rounding at bucket boundaries cannot push an answer over it.
const RelativeAccuracy = 0.009

const (
	// MinValue is the smallest value the sketch tells apart from zero; smaller values (and
	// negative ones) are counted in the zero bucket. Latencies are in seconds, so this is 1 ns.
	MinValue = 1e-9
	// MaxValue is the largest value mapped to its own bucket; larger values are counted in
	// the bucket of MaxValue (about eleven days for latencies in seconds).
	MaxValue = 1e6
)

var (
	gamma    = (1 + RelativeAccuracy) / (1 - RelativeAccuracy)
	logGamma = math.Log(gamma)

	// MinIndex and MaxIndex bound the bucket indexes a valid sketch may use.
	MinIndex = Index(MinValue)
	MaxIndex = Index(MaxValue)
)

// Index maps a value in [MinValue, MaxValue] to its bucket: bucket i holds (γ^(i-1), γ^i] with
// γ = (1+RelativeAccuracy)/(1-RelativeAccuracy). Values outside the range are clamped to the
// extreme buckets; callers that want the zero bucket test v < MinValue first (as Sketch.Add does).
// The agent records with this very mapping, so sketches merge bucket by bucket.
func Index(v float64) int {
	if !(v > MinValue) { // also catches NaN
		v = MinValue
	} else if v > MaxValue {
		v = MaxValue
	}
	return int(math.Ceil(math.Log(v) / logGamma))
}

// Value is the representative value of bucket i, 2γ^i/(γ+1): within RelativeAccuracy of every
// value the bucket holds.
func Value(i int) float64 {
	return 2 * math.Exp(float64(i)*logGamma) / (1 + gamma)
}

// Sketch is a mergeable, sparse, log-bucketed quantile sketch (after DDSketch) with relative
// error at most RelativeAccuracy on every quantile. The zero value is an empty sketch. It is not
// safe for concurrent use; the agent records into its own lock-free buckets and builds a Sketch
// once per interval with AddIndex.
type Sketch struct {
	zero   uint64   // values below MinValue
	offset int      // bucket index of counts[0]
	counts []uint64 // dense between the lowest and highest non-empty bucket
	count  uint64
	sum    float64
}

// Add records one value. NaN is ignored; values below MinValue count as zero.
func (s *Sketch) Add(v float64) {
	if math.IsNaN(v) {
		return
	}
	if v < MinValue {
		s.AddZero(1)
		return
	}
	s.sum += v
	s.AddIndex(Index(v), 1)
}

// AddIndex adds n values to bucket i (clamped to [MinIndex, MaxIndex]) without touching the sum;
// add that with AddSum.
func (s *Sketch) AddIndex(i int, n uint64) {
	if n == 0 {
		return
	}
	i = min(max(i, MinIndex), MaxIndex)
	s.grow(i)
	s.counts[i-s.offset] += n
	s.count += n
}

// AddZero adds n values to the zero bucket.
func (s *Sketch) AddZero(n uint64) {
	s.zero += n
	s.count += n
}

// AddSum adds to the sum of recorded values.
func (s *Sketch) AddSum(v float64) { s.sum += v }

// grow makes counts cover index i.
func (s *Sketch) grow(i int) {
	switch {
	case len(s.counts) == 0:
		s.offset = i
		s.counts = make([]uint64, 1, 16)
	case i < s.offset:
		n := make([]uint64, len(s.counts)+s.offset-i)
		copy(n[s.offset-i:], s.counts)
		s.counts, s.offset = n, i
	case i >= s.offset+len(s.counts):
		need := i - s.offset + 1
		if need <= cap(s.counts) {
			s.counts = s.counts[:need]
		} else {
			n := make([]uint64, need, need+need/4)
			copy(n, s.counts)
			s.counts = n
		}
	}
}

// Buckets calls f with the index and count of every non-empty bucket, in ascending order of
// index; ZeroCount has the values below MinValue.
func (s *Sketch) Buckets(f func(index int, count uint64)) {
	for j, c := range s.counts {
		if c != 0 {
			f(s.offset+j, c)
		}
	}
}

// ZeroCount is the number of recorded values below MinValue.
func (s *Sketch) ZeroCount() uint64 { return s.zero }

// Count is the number of recorded values.
func (s *Sketch) Count() uint64 { return s.count }

// Sum is the sum of recorded values.
func (s *Sketch) Sum() float64 { return s.sum }

// Merge adds every value of o into s. Merging is exact: the result is the sketch of the union.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.count == 0 {
		return
	}
	if len(o.counts) > 0 {
		s.grow(o.offset)
		s.grow(o.offset + len(o.counts) - 1)
		for j, c := range o.counts {
			s.counts[o.offset+j-s.offset] += c
		}
	}
	s.zero += o.zero
	s.count += o.count
	s.sum += o.sum
}

// Quantile returns the value at quantile q in [0, 1], within RelativeAccuracy of the recorded
// value of rank ⌊q·(n−1)⌋ (0-based, ascending). ok is false for an empty sketch or q out of range.
func (s *Sketch) Quantile(q float64) (v float64, ok bool) {
	if s.count == 0 || !(q >= 0 && q <= 1) {
		return 0, false
	}
	rank := uint64(q * float64(s.count-1))
	if rank < s.zero {
		return 0, true
	}
	cum := s.zero
	for j, c := range s.counts {
		cum += c
		if cum > rank {
			return Value(s.offset + j), true
		}
	}
	// Unreachable for a valid sketch (count is the sum of the buckets).
	return Value(s.offset + len(s.counts) - 1), true
}

// Reset empties the sketch, keeping its memory.
func (s *Sketch) Reset() {
	clear(s.counts)
	s.counts = s.counts[:0]
	s.zero, s.count, s.sum, s.offset = 0, 0, 0, 0
}

// sketchJSON is the wire form: runs of consecutive buckets, so a sketch costs bytes in
// proportion to the buckets in use, not to the index range.
type sketchJSON struct {
	Count     uint64     `json:"count"`
	Sum       float64    `json:"sum"`
	ZeroCount uint64     `json:"zeroCount,omitempty"`
	Spans     []spanJSON `json:"spans,omitempty"`
}

type spanJSON struct {
	Index  int      `json:"index"`
	Counts []uint64 `json:"counts"`
}

// maxGap is the longest run of empty buckets kept inside a span; longer runs start a new span,
// which costs about as many bytes as four zeros.
const maxGap = 4

// MarshalJSON encodes the sketch as runs of non-empty buckets.
func (s Sketch) MarshalJSON() ([]byte, error) {
	w := sketchJSON{Count: s.count, Sum: s.sum, ZeroCount: s.zero}
	if math.IsNaN(w.Sum) || math.IsInf(w.Sum, 0) {
		return nil, fmt.Errorf("sketch sum is %v", w.Sum)
	}
	start, gap := -1, 0
	for j, c := range s.counts {
		switch {
		case c != 0 && start < 0:
			start, gap = j, 0
		case c != 0:
			gap = 0
		case start >= 0:
			gap++
			if gap > maxGap {
				w.Spans = append(w.Spans, spanJSON{Index: s.offset + start, Counts: s.counts[start : j-gap+1]})
				start = -1
			}
		}
	}
	if start >= 0 {
		w.Spans = append(w.Spans, spanJSON{Index: s.offset + start, Counts: s.counts[start : len(s.counts)-gap]})
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the wire form and checks its structure; field names in errors are
// relative to the sketch.
func (s *Sketch) UnmarshalJSON(b []byte) error {
	var w sketchJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var n Sketch
	n.zero, n.count, n.sum = w.ZeroCount, w.ZeroCount, w.Sum
	last := MinIndex - 1
	for k, sp := range w.Spans {
		if len(sp.Counts) == 0 {
			return &FieldError{Field: fmt.Sprintf("spans[%d].counts", k), Detail: "must not be empty"}
		}
		end := sp.Index + len(sp.Counts) - 1
		if sp.Index <= last || sp.Index > MaxIndex || end > MaxIndex {
			return &FieldError{Field: fmt.Sprintf("spans[%d].index", k), Detail: fmt.Sprintf("%d (with %d counts) must be ascending, non-overlapping and within [%d, %d]", sp.Index, len(sp.Counts), MinIndex, MaxIndex)}
		}
		last = end
		for j, c := range sp.Counts {
			if n.count+c < n.count {
				return &FieldError{Field: fmt.Sprintf("spans[%d].counts[%d]", k, j), Detail: "total overflows"}
			}
			n.AddIndex(sp.Index+j, c)
		}
	}
	if n.count != w.Count {
		return &FieldError{Field: "count", Detail: fmt.Sprintf("%d does not equal zeroCount plus the span counts (%d)", w.Count, n.count)}
	}
	*s = n
	return nil
}
