package v1

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIndexValueWithinAccuracy(t *testing.T) {
	for _, v := range []float64{MinValue * 1.0001, 1e-6, 0.001, 0.0123, 0.5, 1, 3.7, 60, 3600, MaxValue} {
		got := Value(Index(v))
		if rel := math.Abs(got-v) / v; rel > RelativeAccuracy*(1+1e-9) {
			t.Errorf("Value(Index(%v)) = %v, relative error %v > %v", v, got, rel, RelativeAccuracy)
		}
	}
	if MinIndex >= MaxIndex {
		t.Fatalf("MinIndex %d >= MaxIndex %d", MinIndex, MaxIndex)
	}
}

// exactQuantile is the value of rank ⌊q·(n−1)⌋, the rank Quantile promises to be close to.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

// TestQuantileErrorBound is a property test: on random data sets of several shapes, p50, p95
// and p99 are within 1% of the exact quantile.
func TestQuantileErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func() float64{
		"uniform":     func() float64 { return r.Float64() * 2 },
		"exponential": func() float64 { return r.ExpFloat64() * 0.05 },
		"lognormal":   func() float64 { return math.Exp(r.NormFloat64()*2 - 3) },
		"bimodal": func() float64 {
			if r.IntN(10) == 0 {
				return 5 + r.Float64()
			}
			return 0.01 + r.Float64()*0.001
		},
		"wide": func() float64 { return math.Pow(10, r.Float64()*14-8) },
	}
	for name, gen := range gens {
		for trial := range 50 {
			n := 1 + r.IntN(5000)
			vals := make([]float64, n)
			var s Sketch
			for i := range vals {
				vals[i] = gen()
				s.Add(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.95, 0.99} {
				got, ok := s.Quantile(q)
				want := exactQuantile(vals, q)
				if !ok {
					t.Fatalf("%s/%d: Quantile(%v) not ok", name, trial, q)
				}
				if want < MinValue {
					if got != 0 {
						t.Errorf("%s/%d: q%v = %v, want 0 for %v", name, trial, q, got, want)
					}
					continue
				}
				if rel := math.Abs(got-want) / want; rel > 0.01 {
					t.Errorf("%s/%d n=%d: q%v = %v, exact %v, relative error %.4f > 1%%", name, trial, n, q, got, want, rel)
				}
			}
			if s.Count() != uint64(n) {
				t.Fatalf("Count = %d, want %d", s.Count(), n)
			}
		}
	}
}

func TestMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all Sketch
	parts := make([]Sketch, 5)
	for i := range 10000 {
		v := math.Exp(r.NormFloat64() - float64(i%5))
		all.Add(v)
		parts[i%5].Add(v)
	}
	parts[2].Add(0) // zero bucket merges too
	all.Add(0)
	var merged Sketch
	for i := range parts {
		merged.Merge(&parts[i])
	}
	merged.Merge(nil)
	merged.Merge(&Sketch{})
	if merged.Count() != all.Count() || math.Abs(merged.Sum()-all.Sum()) > 1e-9*all.Sum() {
		t.Fatalf("merged count/sum %d/%v, want %d/%v", merged.Count(), merged.Sum(), all.Count(), all.Sum())
	}
	for q := 0.0; q <= 1; q += 0.01 {
		a, _ := all.Quantile(q)
		m, _ := merged.Quantile(q)
		if a != m {
			t.Errorf("q%v: merged %v, union %v", q, m, a)
		}
	}
}

func TestQuantileEdges(t *testing.T) {
	var s Sketch
	if _, ok := s.Quantile(0.5); ok {
		t.Error("empty sketch: ok")
	}
	s.Add(1)
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		if _, ok := s.Quantile(q); ok {
			t.Errorf("Quantile(%v): ok", q)
		}
	}
	s.Add(math.NaN())
	s.Add(-3)
	s.Add(1e12) // clamped to MaxIndex
	if s.Count() != 3 {
		t.Fatalf("Count = %d, want 3", s.Count())
	}
	if v, _ := s.Quantile(0); v != 0 {
		t.Errorf("q0 = %v, want 0 (negative counts as zero)", v)
	}
	if v, _ := s.Quantile(1); v != Value(MaxIndex) {
		t.Errorf("q1 = %v, want %v", v, Value(MaxIndex))
	}
	s.Reset()
	if s.Count() != 0 || s.Sum() != 0 {
		t.Error("Reset left values")
	}
}

func TestSketchJSONRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var s Sketch
	for range 2000 {
		s.Add(math.Exp(r.NormFloat64()*3 - 4))
	}
	s.AddZero(3)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Sketch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if back.Count() != s.Count() || back.Sum() != s.Sum() {
		t.Fatalf("count/sum %d/%v, want %d/%v", back.Count(), back.Sum(), s.Count(), s.Sum())
	}
	for q := 0.0; q <= 1; q += 0.001 {
		a, _ := s.Quantile(q)
		c, _ := back.Quantile(q)
		if a != c {
			t.Fatalf("q%v: %v after round trip, %v before", q, c, a)
		}
	}
}

func TestSketchJSONSparse(t *testing.T) {
	var s Sketch
	s.Add(1e-6)
	s.Add(100)
	b, _ := json.Marshal(s)
	var w sketchJSON
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Spans) != 2 || len(w.Spans[0].Counts) != 1 || len(w.Spans[1].Counts) != 1 {
		t.Fatalf("want two one-bucket spans, got %s", b)
	}
}

func BenchmarkSketchAdd(b *testing.B) {
	var s Sketch
	v := 0.0123
	for b.Loop() {
		s.Add(v)
	}
}

func BenchmarkIndex(b *testing.B) {
	v, sink := 0.0123, 0
	for b.Loop() {
		sink += Index(v)
	}
	_ = sink
}
