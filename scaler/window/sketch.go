package window

import (
	"math"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// MaxSketchBins bounds the bins of one second of a target's latency (or time-to-first-byte)
// sketch. A second whose values span more of the report sketch's buckets is kept at a coarser
// resolution: at level l a bin holds 2^l consecutive buckets, and the level rises until the
// second fits (level 3 holds the whole range, MinValue to MaxValue). So one target's sketch
// rings cost at most 600 s × 2 × MaxSketchBins × 8 bytes, whatever the reports hold.
//
// 256 buckets span a factor of about 100 (γ^256 ≈ 99), so a second whose latencies lie within
// 25 ms and 2 s keeps full resolution; the error a coarser level costs is RelativeError.
const MaxSketchBins = 256

// maxLevel is the level at which the whole index range fits in MaxSketchBins.
var maxLevel = func() int {
	l := 0
	for (reportv1.MaxIndex>>l)-(reportv1.MinIndex>>l)+1 > MaxSketchBins {
		l++
	}
	return l
}()

// representative[l] is the bucket, relative to the first of a level-l bin, whose value
// stands for the bin when the bins are read back as a report sketch (Window's snapshot): the
// one that minimises the largest relative error over the values the bin holds.
// relativeError[l] is that error.
var representative, relativeError = func() ([]int, []float64) {
	gamma := math.Exp(math.Log(reportv1.Value(1) / reportv1.Value(0)))
	reps, errs := make([]int, maxLevel+1), make([]float64, maxLevel+1)
	for l := range reps {
		n := 1 << l
		errs[l] = math.Inf(1)
		// A bin holds values in (γ^(first−1), γ^(first−1+n)]; bucket first+off reads back
		// as 2γ^(first+off)/(γ+1).
		for off := range n {
			low := 2*math.Pow(gamma, float64(off+1))/(gamma+1) - 1
			high := 1 - 2*math.Pow(gamma, float64(off+1-n))/(gamma+1)
			if e := max(low, high); e < errs[l] {
				reps[l], errs[l] = off, e
			}
		}
	}
	return reps, errs
}()

// RelativeError is the largest relative error of a quantile read from a window whose
// coarsest second has the given level: 0.9% (the report sketch's own, level 0), 2.7%, 4.4%,
// 7.8% (level 3, the most a second can need).
func RelativeError(level int) float64 {
	return relativeError[min(max(level, 0), maxLevel)]
}

// binned is one second of a target's sketch of one kind, in at most MaxSketchBins bins of
// 2^level report buckets each.
type binned struct {
	level  int
	offset int // bin index of counts[0]
	counts []uint64
	zero   uint64
	sum    float64
}

func (b *binned) reset() {
	clear(b.counts)
	b.counts = b.counts[:0]
	b.level, b.offset, b.zero, b.sum = 0, 0, 0, 0
}

// bucketRange is the lowest and highest non-empty bucket of s; ok is false without one.
func bucketRange(s *reportv1.Sketch) (lo, hi int, ok bool) {
	s.Buckets(func(i int, _ uint64) {
		if !ok {
			lo, ok = i, true
		}
		hi = i
	})
	return lo, hi, ok
}

// plan is the level and bin range b needs to take s: the lowest level not below b's at
// which both fit in MaxSketchBins.
func (b *binned) plan(s *reportv1.Sketch) (level, lo, hi int, ok bool) {
	slo, shi, ok := bucketRange(s)
	if !ok {
		return b.level, b.offset, b.offset + len(b.counts) - 1, false
	}
	for level = b.level; ; level++ {
		lo, hi = slo>>level, shi>>level
		if len(b.counts) > 0 {
			up := level - b.level
			lo, hi = min(lo, b.offset>>up), max(hi, (b.offset+len(b.counts)-1)>>up)
		}
		if hi-lo+1 <= MaxSketchBins {
			return level, lo, hi, true
		}
	}
}

// fits reports whether adding s needs no memory beyond what b holds.
func (b *binned) fits(s *reportv1.Sketch) bool {
	_, lo, hi, ok := b.plan(s)
	return !ok || hi-lo+1 <= cap(b.counts)
}

// add merges s into b and returns the bytes b allocated for it.
func (b *binned) add(s *reportv1.Sketch) (grown int64) {
	b.zero += s.ZeroCount()
	b.sum += s.Sum()
	level, lo, hi, ok := b.plan(s)
	if !ok {
		return 0
	}
	if level > b.level {
		b.coarsen(level)
	}
	grown = b.cover(lo, hi)
	s.Buckets(func(i int, c uint64) { b.counts[(i>>b.level)-b.offset] += c })
	return grown
}

// cover makes counts span bins [lo, hi], which include the bins it spans now, allocating
// only when its capacity is short.
func (b *binned) cover(lo, hi int) (grown int64) {
	n, old := hi-lo+1, b.counts
	if n > cap(b.counts) {
		c := min(max(n, 2*cap(b.counts), 16), MaxSketchBins)
		grown = int64(8 * (c - cap(b.counts)))
		b.counts = make([]uint64, n, c)
	} else {
		b.counts = b.counts[:n]
	}
	shift := 0
	if len(old) > 0 {
		shift = b.offset - lo
		copy(b.counts[shift:], old) // a memmove when the memory is the same
	}
	clear(b.counts[:shift])
	clear(b.counts[shift+len(old):])
	b.offset = lo
	return grown
}

// coarsen lowers b's resolution to level, merging neighbouring bins in place: a bin's new
// index is never above its old one.
func (b *binned) coarsen(level int) {
	up := level - b.level
	lo := b.offset >> up
	for j, c := range b.counts {
		b.counts[j] = 0
		b.counts[((b.offset+j)>>up)-lo] += c
	}
	if len(b.counts) > 0 {
		b.counts = b.counts[:((b.offset+len(b.counts)-1)>>up)-lo+1]
	}
	b.level, b.offset = level, lo
}

// mergeInto adds b's values to s at resolution level (not below b's): each bin is read back
// as the representative bucket of the level-level bin that holds it.
func (b *binned) mergeInto(s *reportv1.Sketch, level int) {
	up := level - b.level
	for j, c := range b.counts {
		s.AddIndex((((b.offset+j)>>up)<<level)+representative[level], c)
	}
	s.AddZero(b.zero)
	s.AddSum(b.sum)
}
