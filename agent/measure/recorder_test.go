package measure

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

func TestCollectCountsAndSketches(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	reg := prometheus.NewRegistry()
	r := New(clk, reg)
	for i := range 100 {
		r.Done(Class2xx, Timing{Latency: time.Duration(i+1) * time.Millisecond, FirstByte: time.Millisecond, HasFirstByte: true,
			PerOutputToken: 20 * time.Millisecond, HasPerOutputToken: i%2 == 0})
	}
	r.Done(Class5xx, Timing{Latency: 2 * time.Second, HasFirstByte: true})
	r.Done(ClassTransportError, Timing{Latency: time.Millisecond})
	r.Reject()
	r.Reject()
	clk.SetTime(time.Unix(1001, 0))
	rep := reportv1.Report{APIVersion: reportv1.APIVersion, Pod: reportv1.PodRef{Namespace: "n", Name: "p", UID: "u"}}
	r.Collect(&rep)

	// Rejections are counted apart: in no class and no sketch.
	if want := (reportv1.Requests{Status2xx: 100, Status5xx: 1, TransportErrors: 1, Rejected: 2}); rep.Requests != want {
		t.Errorf("requests %+v, want %+v", rep.Requests, want)
	}
	if rep.Latency.Count() != 102 || rep.TimeToFirstByte.Count() != 101 || rep.TimePerOutputToken.Count() != 50 {
		t.Errorf("counts latency %d ttfb %d tpot %d, want 102, 101 and 50", rep.Latency.Count(), rep.TimeToFirstByte.Count(), rep.TimePerOutputToken.Count())
	}
	if p, _ := rep.TimePerOutputToken.Quantile(0.5); math.Abs(p-0.020)/0.020 > 0.01 {
		t.Errorf("tpot p50 %v, want 0.020 within 1%%", p)
	}
	p50, _ := rep.Latency.Quantile(0.5)
	if math.Abs(p50-0.050)/0.050 > 0.01 { // rank 50 of 102: 50 ms
		t.Errorf("p50 %v, want 0.050 within 1%%", p50)
	}
	if rep.Interval.Start != time.Unix(1000, 0) || rep.Interval.End != time.Unix(1001, 0) {
		t.Errorf("interval %+v", rep.Interval)
	}
	if err := rep.Validate(); err != nil {
		t.Errorf("collected report invalid: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, mf := range mfs {
		names[mf.GetName()] = len(mf.GetMetric())
	}
	if n := names["inferscale_agent_request_duration_seconds"]; n != int(numClasses) {
		t.Errorf("%d duration series, want %d (metrics: %v)", n, numClasses, names)
	}
	if n := names["inferscale_agent_time_per_output_token_seconds"]; n != 1 {
		t.Errorf("%d time-per-output-token series, want 1 (metrics: %v)", n, names)
	}

	// The next interval starts empty where this one ended.
	clk.SetTime(time.Unix(1002, 0))
	r.Collect(&rep)
	if rep.Requests.Total() != 0 || rep.Latency.Count() != 0 || rep.Interval.Start != time.Unix(1001, 0) {
		t.Errorf("second interval not empty: %+v", rep.Requests)
	}
}

func TestLevelAverageAndMax(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(0, 0))
	r := New(clk, nil)
	at := func(ms int) int64 {
		clk.SetTime(time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond))
		_, n := r.Now()
		return n
	}
	// Interval 1 (0..1000 ms): one request for the whole second, a second one for 500 ms,
	// a third from 900 ms that stays open.
	r.InFlight.Up(at(0))
	r.InFlight.Up(at(250))
	r.InFlight.Down(at(750))
	r.InFlight.Up(at(900))
	at(1000)
	var rep reportv1.Report
	r.Collect(&rep)
	if got, want := rep.InFlight.Average, 1.6; math.Abs(got-want) > 1e-9 {
		t.Errorf("average %v, want %v", got, want)
	}
	if rep.InFlight.Max != 2 {
		t.Errorf("max %v, want 2", rep.InFlight.Max)
	}
	// Interval 2: both open requests end at 1500 ms.
	r.InFlight.Down(at(1500))
	r.InFlight.Down(at(1500))
	at(2000)
	r.Collect(&rep)
	if got, want := rep.InFlight.Average, 1.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("second average %v, want %v", got, want)
	}
	if rep.InFlight.Max != 2 {
		t.Errorf("second max %v, want 2 (the level it started with)", rep.InFlight.Max)
	}
	if rep.Queue != (reportv1.Gauge{}) {
		t.Errorf("queue %+v, want zero", rep.Queue)
	}
}

// TestConcurrentCollectLosesNothing races writers against collectors: every request lands
// in exactly one interval, and each interval is consistent.
func TestConcurrentCollectLosesNothing(t *testing.T) {
	r := New(clocktesting.NewFakePassiveClock(time.Unix(0, 0)), nil)
	const writers, each = 4, 20000
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range each {
				r.Done(Class(i%int(numClasses)), Timing{Latency: time.Millisecond, FirstByte: time.Microsecond, HasFirstByte: i%int(numClasses) != int(ClassTransportError)})
			}
		})
	}
	var total, ttfb uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		var rep reportv1.Report
		r.Collect(&rep)
		if rep.Latency.Count() != rep.Requests.Total() || rep.TimeToFirstByte.Count() != rep.Requests.Total()-rep.Requests.TransportErrors {
			t.Fatalf("inconsistent interval: requests %+v, latency %d, ttfb %d", rep.Requests, rep.Latency.Count(), rep.TimeToFirstByte.Count())
		}
		total += rep.Requests.Total()
		ttfb += rep.TimeToFirstByte.Count()
	}
	if total != writers*each || ttfb != writers*each*4/5 {
		t.Fatalf("collected %d requests (%d first bytes), want %d (%d)", total, ttfb, writers*each, writers*each*4/5)
	}
}

func BenchmarkDone(b *testing.B) {
	r := New(clocktestingReal{}, prometheus.NewRegistry())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Done(Class2xx, Timing{Latency: 12 * time.Millisecond, FirstByte: 3 * time.Millisecond, HasFirstByte: true})
		}
	})
}

func BenchmarkLevelUpDown(b *testing.B) {
	var l Level
	b.RunParallel(func(pb *testing.PB) {
		var now int64
		for pb.Next() {
			now++
			l.Up(now)
			l.Down(now)
		}
	})
}

// BenchmarkRequestPath is what the proxy adds per request: clock reads, in-flight up/down, Done.
func BenchmarkRequestPath(b *testing.B) {
	r := New(clocktestingReal{}, prometheus.NewRegistry())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start, ns := r.Now()
			r.InFlight.Up(ns)
			end, ne := r.Now()
			r.InFlight.Down(ne)
			r.Done(Class2xx, Timing{Latency: end.Sub(start), FirstByte: end.Sub(start), HasFirstByte: true})
		}
	})
}

func BenchmarkCollect(b *testing.B) {
	r := New(clocktestingReal{}, nil)
	var rep reportv1.Report
	for b.Loop() {
		r.Done(Class2xx, Timing{Latency: 12 * time.Millisecond, FirstByte: 3 * time.Millisecond, HasFirstByte: true})
		r.Collect(&rep)
	}
}

type clocktestingReal struct{}

func (clocktestingReal) Now() time.Time                  { return time.Now() }
func (clocktestingReal) Since(t time.Time) time.Duration { return time.Since(t) }
