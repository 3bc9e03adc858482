package window

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// The stated error per level: level 0 is the report sketch's own.
func TestRelativeErrorPerLevel(t *testing.T) {
	want := []float64{0.009, 0.0267, 0.0441, 0.0779}
	if maxLevel != len(want)-1 {
		t.Fatalf("maxLevel = %d, want %d (the whole index range in %d bins)", maxLevel, len(want)-1, MaxSketchBins)
	}
	for l, w := range want {
		if got := RelativeError(l); math.Abs(got-w) > 5e-4 {
			t.Errorf("RelativeError(%d) = %.4f, want %.4f", l, got, w)
		}
	}
}

// Quantiles of windows whose seconds span ever wider ranges of latencies, against the exact
// quantiles of the values recorded: within RelativeError of the coarsest second's level, and
// no second holds more than MaxSketchBins bins.
func TestCoarsenedQuantilesAgainstExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		lo, hi  float64 // the values of every second, log-uniform in [lo, hi]
		level   int     // the level the seconds need
		wantErr float64 // the bound, at most RelativeError(level)
	}{
		{"25ms to 2s", 0.025, 2, 0, 0.009},
		{"2ms to 10s", 2e-3, 10, 1, RelativeError(1)},
		{"10µs to 100s", 1e-5, 100, 2, RelativeError(2)},
		{"the whole range", reportv1.MinValue * 1.01, reportv1.MaxValue, 3, RelativeError(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, Config{Window: time.Minute, Latency: true})
			var exact []float64
			for range 60 {
				r := report(0, 0, 1)
				// Both ends every second, so that each second spans the range.
				for _, v := range append([]float64{tc.lo, tc.hi}, make([]float64, 200)...) {
					if v == 0 {
						v = tc.lo * math.Pow(tc.hi/tc.lo, rng.Float64())
					}
					r.Latency.Add(v)
					exact = append(exact, v)
				}
				if err := s.Record(key, Pod{"p", "u"}, r); err != nil {
					t.Fatal(err)
				}
				clk.Step(time.Second)
			}
			clk.Step(-time.Second)
			tg := s.targets[key]
			for i := range tg.sketches {
				if b := &tg.sketches[i].latency; len(b.counts) > MaxSketchBins || cap(b.counts) > MaxSketchBins || b.level != tc.level {
					t.Fatalf("second %d: %d bins (capacity %d) at level %d, want ≤ %d at level %d", i, len(b.counts), cap(b.counts), b.level, MaxSketchBins, tc.level)
				}
			}
			snap, _ := s.Window(key, time.Minute)
			if snap.Latency.Count() != uint64(len(exact)) {
				t.Fatalf("count %d, want %d", snap.Latency.Count(), len(exact))
			}
			slices.Sort(exact)
			for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
				got, _ := snap.Latency.Quantile(q)
				want := exact[int(q*float64(len(exact)-1))]
				if e := math.Abs(got-want) / want; e > tc.wantErr+1e-12 {
					t.Errorf("p%g = %g, exact %g: relative error %.4f over %.4f", q*100, got, want, e, tc.wantErr)
				}
			}
		})
	}
}

// Seconds of different levels in one window merge at the coarsest: the narrow seconds'
// values are read back within that level's error too.
func TestWindowMergesSecondsOfDifferentLevels(t *testing.T) {
	s, clk := newStore(t, Config{Window: time.Minute, Latency: true})
	wide := report(0, 0, 1)
	wide.Latency.Add(reportv1.MinValue * 1.01)
	wide.Latency.Add(reportv1.MaxValue)
	narrow := report(1000, 0.25, 1)
	for _, r := range []*reportv1.Report{narrow, wide, narrow} {
		if err := s.Record(key, Pod{"p", "u"}, r); err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Second)
	}
	clk.Step(-time.Second)
	snap, _ := s.Window(key, time.Minute)
	got, _ := snap.Latency.Quantile(0.5)
	if e := math.Abs(got-0.25) / 0.25; e > RelativeError(maxLevel) {
		t.Errorf("median %g: relative error %.4f over %.4f", got, e, RelativeError(maxLevel))
	}
	if n := snap.Latency.Count(); n != 2002 {
		t.Errorf("count %d, want 2002", n)
	}
}

// At its memory limit the store refuses what needs new memory (a new pod), counts it, and
// still takes the reports of the pods it holds; forgetting a target frees its memory.
func TestMemoryLimit(t *testing.T) {
	s, clk := newStore(t, Config{Window: time.Minute, Latency: true})
	if err := s.Record(key, Pod{"a", "u"}, report(10, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	used := s.MemoryUsed()
	if used <= 0 {
		t.Fatalf("memory used %d after a report", used)
	}
	s.SetMemoryLimit(used)
	clk.Step(time.Second)
	if err := s.Record(key, Pod{"b", "u"}, report(10, 0.1, 1)); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("a new pod at the limit: %v, want ErrMemoryLimit", err)
	}
	if n := s.Refused(key); n != 1 {
		t.Errorf("refused %d, want 1", n)
	}
	// The next second reuses the memory a's ring and the sketch ring hold... unless the
	// second's sketch bins were never allocated: that second needs new memory.
	err := s.Record(key, Pod{"a", "u"}, report(10, 0.1, 1))
	if err != nil && !errors.Is(err, ErrMemoryLimit) {
		t.Fatal(err)
	}
	for range 60 { // a full ring later every second's bins exist
		s.SetMemoryLimit(math.MaxInt64)
		clk.Step(time.Second)
		if err := s.Record(key, Pod{"a", "u"}, report(10, 0.1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	s.SetMemoryLimit(s.MemoryUsed())
	clk.Step(time.Second)
	if err := s.Record(key, Pod{"a", "u"}, report(10, 0.1, 1)); err != nil {
		t.Errorf("a held pod's report within held memory: %v", err)
	}
	if snap, _ := s.Window(key, time.Minute); snap.Pods["a"].Requests == 0 || snap.Pods["b"].Requests != 0 {
		t.Errorf("window %+v: want a's reports only", snap.Pods)
	}
	s.Forget(key)
	if u := s.MemoryUsed(); u != 0 {
		t.Errorf("memory used %d after the only target was forgotten, want 0", u)
	}
}

// Configure, aging out and a re-created pod give back what they held: a steady store's
// count returns to the same value.
func TestMemoryAccountingReturnsToSteady(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second, Latency: true})
	for range 20 {
		if err := s.Record(key, Pod{"a", "u1"}, report(10, 0.1, 1)); err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Second)
	}
	steady := s.MemoryUsed()
	if err := s.Record(key, Pod{"a", "u2"}, report(10, 0.1, 1)); err != nil { // re-created
		t.Fatal(err)
	}
	if err := s.Record(key, Pod{"b", "u"}, report(10, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute) // both age out
	s.Window(key, time.Minute)
	if u := s.MemoryUsed(); u >= steady {
		t.Errorf("memory used %d after every pod aged out, want below the steady %d", u, steady)
	}
	s.Configure(key, Config{Window: time.Minute})
	if u, want := s.MemoryUsed(), int64(0); u != want {
		t.Errorf("memory used %d after reconfiguring without sketches or pods, want %d", u, want)
	}
}
