package window

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
)

var key = target.Key{Namespace: "ai", Group: "apps", Kind: "Deployment", Name: "llama"}

// report builds a one-second report with n requests of the given latency (seconds).
func report(n int, latency, inFlight float64) *reportv1.Report {
	r := &reportv1.Report{
		APIVersion: reportv1.APIVersion,
		Interval:   reportv1.Interval{Start: time.Unix(0, 0), End: time.Unix(1, 0)},
		Requests:   reportv1.Requests{Status2xx: uint64(n)},
		InFlight:   reportv1.Gauge{Average: inFlight, Max: inFlight},
	}
	for range n {
		r.Latency.Add(latency)
		r.TimeToFirstByte.Add(latency / 10)
		r.TimePerOutputToken.Add(latency / 100)
	}
	return r
}

func newStore(t testing.TB, cfg Config) (*Store, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	s := NewStore(clk)
	s.Configure(key, cfg)
	return s, clk
}

func TestRecordUnknownTarget(t *testing.T) {
	s, _ := newStore(t, Config{Window: time.Minute})
	other := key
	other.Name = "other"
	if err := s.Record(other, Pod{"p", "u"}, report(1, 0.1, 1)); err != ErrUnknownTarget {
		t.Fatalf("Record on unconfigured target: got %v, want ErrUnknownTarget", err)
	}
	if _, ok := s.Window(other, time.Minute); ok {
		t.Fatal("Window of unconfigured target: ok")
	}
}

func TestWindowAveragesAndRates(t *testing.T) {
	s, clk := newStore(t, Config{Window: 60 * time.Second, Latency: true, TimeToFirstByte: true, TimePerOutputToken: true, ModelMetrics: []string{"waiting"}})
	// Pod a: 60 s of 10 req/s, in-flight 2 for 30 s then 4 for 30 s; 100ms latency.
	// Pod b: 10 s of 30 req/s at 1 s latency, started late, in-flight 6 and 9 in the last second.
	for i := range 60 {
		ra := report(10, 0.1, 2)
		if i >= 30 {
			ra.InFlight.Average = 4
		}
		ra.ModelMetrics = map[string]float64{"waiting": float64(i % 2 * 2), "ignored": 7}
		// Two whole GPUs and a MIG slice, which has memory but no utilization of its own.
		ra.GPUs = []reportv1.GPU{{UtilizationPercent: ptr(50), MemoryUsedBytes: 1, MemoryTotalBytes: 4}, {UtilizationPercent: ptr(70), MemoryUsedBytes: 3, MemoryTotalBytes: 4},
			{MIG: true, MemoryUsedBytes: 2, MemoryTotalBytes: 4}}
		ra.GPUAttribution = reportv1.GPUAttributionPodResources
		if i >= 30 {
			ra.GPUs[0].SMActivityPercent = ptr(20) // GPM from the second half on
		}
		if err := s.Record(key, Pod{"a", "ua"}, ra); err != nil {
			t.Fatal(err)
		}
		if i >= 50 {
			rb := report(30, 1, 6)
			rb.Requests.Rejected = 5 // its queue is full: refused, in no sketch
			if i == 59 {
				rb.InFlight.Average = 9 // a backlog building up in the newest second
			}
			if err := s.Record(key, Pod{"b", "ub"}, rb); err != nil {
				t.Fatal(err)
			}
		}
		if i < 59 {
			clk.Step(time.Second)
		}
	}

	snap, ok := s.Window(key, 60*time.Second)
	if !ok {
		t.Fatal("Window: not ok")
	}
	a, b := snap.Pods["a"], snap.Pods["b"]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"a.Seconds", a.Seconds, 60},
		{"a.RequestRate", a.RequestRate, 10},
		{"a.InFlight", a.InFlight, 3},
		{"a.GPU utilization", a.GPU.Signals[reportv1.GPUUtilization], 60},
		{"a.GPU memoryUtilization", a.GPU.Signals[reportv1.GPUMemoryUtilization], 50},
		{"a.GPU smActivity", a.GPU.Signals[reportv1.GPUSMActivity], 20},
		{"a.ModelMetrics[waiting]", a.ModelMetrics["waiting"], 1},
		{"b.Seconds", b.Seconds, 10},
		{"b.RequestRate", b.RequestRate, 30},
		{"b.InFlight", b.InFlight, 6.3},
		{"b.InFlightLast", b.InFlightLast, 9},
		{"a.InFlightLast", a.InFlightLast, 4},
		{"b.RejectedRate", b.RejectedRate, 5},
		{"a.RejectedRate", a.RejectedRate, 0},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, ok := a.ModelMetrics["ignored"]; ok {
		t.Error("a gauge no policy asked for was kept")
	}
	if b.HasGPU || !a.HasGPU {
		t.Errorf("HasGPU: a=%v b=%v, want true, false", a.HasGPU, b.HasGPU)
	}
	if _, ok := a.GPU.Signal(reportv1.GPUTensorActivity); ok || a.GPU.Unattributed {
		t.Errorf("a: tensor activity nobody reported, or unattributed: %+v", a.GPU)
	}
	// 600 fast requests and 300 slow ones: p50 is fast, p90 slow — a merged sketch, where
	// averaging the pods' percentiles would give neither.
	if got := snap.Latency.Count(); got != 900 {
		t.Fatalf("merged latency count = %d, want 900", got)
	}
	p50, _ := snap.Latency.Quantile(0.5)
	p90, _ := snap.Latency.Quantile(0.9)
	if math.Abs(p50-0.1) > 0.001 || math.Abs(p90-1) > 0.01 {
		t.Errorf("p50, p90 = %v, %v; want about 0.1, 1", p50, p90)
	}
	if got := snap.TimeToFirstByte.Count(); got != 900 {
		t.Errorf("merged ttfb count = %d, want 900", got)
	}
	if got := snap.TimePerOutputToken.Count(); got != 900 {
		t.Errorf("merged time-per-output-token count = %d, want 900", got)
	}
	if p90, _ := snap.TimePerOutputToken.Quantile(0.9); math.Abs(p90-0.01) > 0.0001 {
		t.Errorf("time-per-output-token p90 = %v, want about 0.01", p90)
	}

	// The 6 s burst window sees only the last six seconds.
	burst, _ := s.Window(key, 6*time.Second)
	if got := burst.Pods["a"].Requests; got != 60 {
		t.Errorf("burst window requests of a = %d, want 60", got)
	}
	if got := burst.Pods["b"].InFlight; got != 6.5 {
		t.Errorf("burst window in-flight of b = %v, want 6.5", got)
	}
	if got := burst.Latency.Count(); got != 60+180 {
		t.Errorf("burst window latency count = %d, want 240", got)
	}
}

func TestWindowLongerThanRingIsClamped(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second})
	for range 30 {
		if err := s.Record(key, Pod{"a", "u"}, report(1, 0.1, 1)); err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Second)
	}
	snap, _ := s.Window(key, time.Minute)
	if snap.Window != 10*time.Second {
		t.Errorf("Window = %v, want the ring's 10s", snap.Window)
	}
	// The current second has no report yet: nine of the ten seconds hold one request.
	if got := snap.Pods["a"].Requests; got != 9 {
		t.Errorf("requests = %d, want 9", got)
	}
}

func TestPodsAgeOut(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second})
	if err := s.Record(key, Pod{"a", "u"}, report(1, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Second)
	if snap, _ := s.Window(key, 10*time.Second); len(snap.Pods) != 1 {
		t.Fatalf("pods after 5s = %d, want 1", len(snap.Pods))
	}
	clk.Step(6 * time.Second)
	if snap, _ := s.Window(key, 10*time.Second); len(snap.Pods) != 0 {
		t.Fatalf("pods after 11s = %d, want 0", len(snap.Pods))
	}
	if n := len(s.targets[key].pods); n != 0 {
		t.Errorf("aged-out pod still held: %d pods", n)
	}
}

func TestRecreatedPodStartsAfresh(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second})
	if err := s.Record(key, Pod{"web-0", "old"}, report(5, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Second)
	if err := s.Record(key, Pod{"web-0", "new"}, report(1, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Window(key, 10*time.Second)
	if got := snap.Pods["web-0"].Requests; got != 1 {
		t.Errorf("requests of re-created pod = %d, want 1 (its predecessor's must not count)", got)
	}
}

func TestReconfigureDropsDataAndCoverage(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second})
	if got := s.Covered(key); got != 0 {
		t.Fatalf("Covered before any report = %v", got)
	}
	if err := s.Record(key, Pod{"a", "u"}, report(1, 0.1, 1)); err != nil {
		t.Fatal(err)
	}
	clk.Step(4 * time.Second)
	if got := s.Covered(key); got != 4*time.Second {
		t.Errorf("Covered = %v, want 4s", got)
	}
	s.Configure(key, Config{Window: 10 * time.Second}) // unchanged: keeps everything
	if got := s.Covered(key); got != 4*time.Second {
		t.Errorf("Covered after same config = %v, want 4s", got)
	}
	s.Configure(key, Config{Window: 20 * time.Second})
	if got := s.Covered(key); got != 0 {
		t.Errorf("Covered after a new window = %v, want 0", got)
	}
	if snap, _ := s.Window(key, 20*time.Second); len(snap.Pods) != 0 {
		t.Errorf("pods after reconfiguration = %d, want 0", len(snap.Pods))
	}
	s.Forget(key)
	if len(s.Targets()) != 0 {
		t.Error("Forget left the target")
	}
}

func TestLongIntervalIsCapped(t *testing.T) {
	s, _ := newStore(t, Config{Window: 60 * time.Second})
	r := report(0, 0, 9)
	r.Interval.End = r.Interval.Start.Add(time.Hour)
	if err := s.Record(key, Pod{"a", "u"}, r); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Window(key, 60*time.Second)
	if got := snap.Pods["a"].Seconds; got != maxInterval.Seconds() {
		t.Errorf("seconds covered by one report = %v, want %v", got, maxInterval.Seconds())
	}
}

func TestShortIntervalIsFloored(t *testing.T) {
	s, _ := newStore(t, Config{Window: 60 * time.Second})
	r := report(1000, 0, 9)
	r.Interval.End = r.Interval.Start.Add(time.Nanosecond)
	if err := s.Record(key, Pod{"a", "u"}, r); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Window(key, 60*time.Second)
	st := snap.Pods["a"]
	if st.Seconds != minInterval.Seconds() || st.RequestRate != 1000/minInterval.Seconds() || st.InFlight != 9 {
		t.Errorf("a 1 ns report weighs %v s, rate %v/s, in-flight %v; want %v s, %v/s, 9",
			st.Seconds, st.RequestRate, st.InFlight, minInterval.Seconds(), 1000/minInterval.Seconds())
	}
}

// pods and requests of the benchmarks: a target of 10 pods at 50 req/s each, latencies
// spread over 20ms..2s as a loaded LLM server's are.
const benchPods = 10

func benchReport(i int) *reportv1.Report {
	r := report(0, 0, 3)
	for j := range 50 {
		v := 0.02 * math.Pow(100, float64((i*50+j)%97)/96)
		r.Latency.Add(v)
		r.TimeToFirstByte.Add(v / 20)
	}
	r.Requests.Status2xx = 50
	return r
}

func BenchmarkRecord(b *testing.B) {
	s, clk := newStore(b, Config{Window: 60 * time.Second, Latency: true})
	reports := make([]*reportv1.Report, 16)
	for i := range reports {
		reports[i] = benchReport(i)
	}
	pods := make([]Pod, benchPods)
	for i := range pods {
		pods[i] = Pod{fmt.Sprintf("pod-%d", i), "u"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%benchPods == 0 {
			clk.Step(time.Second)
		}
		if err := s.Record(key, pods[i%benchPods], reports[i%len(reports)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWindow computes the stable (60 s) and burst (6 s) windows of a full 10-pod target,
// what the controller does per policy per tick.
func BenchmarkWindow(b *testing.B) {
	for _, latency := range []bool{false, true} {
		b.Run(fmt.Sprintf("latency=%v", latency), func(b *testing.B) {
			s, clk := newStore(b, Config{Window: 60 * time.Second, Latency: latency})
			for sec := range 60 {
				for p := range benchPods {
					if err := s.Record(key, Pod{fmt.Sprintf("pod-%d", p), "u"}, benchReport(sec+p)); err != nil {
						b.Fatal(err)
					}
				}
				clk.Step(time.Second)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.Window(key, 60*time.Second)
				s.Window(key, 6*time.Second)
			}
		})
	}
}

// BenchmarkBytesPerPod fills full 60 s rings and reports the heap they take per pod.
func BenchmarkBytesPerPod(b *testing.B) {
	for _, latency := range []bool{false, true} {
		b.Run(fmt.Sprintf("latency=%v", latency), func(b *testing.B) {
			const pods = 200
			reports := make([]*reportv1.Report, 60)
			for i := range reports {
				reports[i] = benchReport(i)
			}
			var perPod float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s, clk := newStore(b, Config{Window: 60 * time.Second, Latency: latency, TimeToFirstByte: latency})
				for sec := range 60 {
					for p := range pods {
						if err := s.Record(key, Pod{fmt.Sprintf("pod-%d", p), "u"}, reports[(sec+p)%60]); err != nil {
							b.Fatal(err)
						}
					}
					clk.Step(time.Second)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perPod = float64(after.HeapAlloc-before.HeapAlloc) / pods
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
	}
}

func TestConfigFor(t *testing.T) {
	w := int32(30)
	spec := (&v1alpha1.AutoscalingPolicySpec{
		StableWindowSeconds: &w,
		Metrics: []v1alpha1.MetricSpec{
			{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{Percentile: 99, TimeToFirstByte: true}},
			{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{Percentile: 90, TimePerOutputToken: true}},
			{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: "vllm:num_requests_waiting"}},
			{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: "b"}},
			{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: "b"}},
		},
	}).Defaulted()
	got := ConfigFor(spec)
	if got.Window != 30*time.Second || got.Latency || !got.TimeToFirstByte || !got.TimePerOutputToken || strings.Join(got.ModelMetrics, ",") != "b,vllm:num_requests_waiting" {
		t.Errorf("ConfigFor = %+v", got)
	}
}

func ptr(v float64) *float64 { return &v }

// A report that cannot tell the pod's GPUs from the node's marks the pod's window, with the
// most devices such a report carried; an old agent's report, without attribution, counts so.
func TestWindowUnattributedGPUs(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second})
	for i, attribution := range []string{reportv1.GPUAttributionDRA, "", reportv1.GPUAttributionUnattributed, reportv1.GPUAttributionDRA} {
		if i > 0 {
			clk.Step(time.Second)
		}
		r := report(1, 0.1, 1)
		r.GPUAttribution = attribution
		for range 1 + i%3 {
			r.GPUs = append(r.GPUs, reportv1.GPU{UtilizationPercent: ptr(10)})
		}
		if err := s.Record(key, Pod{"p", "u"}, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(key, Pod{"exact", "u2"}, func() *reportv1.Report {
			e := report(1, 0.1, 1)
			e.GPUs, e.GPUAttribution = r.GPUs, reportv1.GPUAttributionPodResources
			return e
		}()); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := s.Window(key, 10*time.Second)
	if g := snap.Pods["p"].GPU; !g.Unattributed || g.Devices != 3 {
		t.Errorf("p: %+v, want unattributed with 3 devices", g)
	}
	if g := snap.Pods["exact"].GPU; g.Unattributed || g.Devices != 0 {
		t.Errorf("exact: %+v", g)
	}
	if snap, _ = s.Window(key, time.Second); !snap.Pods["p"].HasGPU || snap.Pods["p"].GPU.Unattributed {
		t.Errorf("the last second's exact report: %+v", snap.Pods["p"])
	}
}

// BenchmarkBytesPerTargetWorstCase is the memory of one target at the worst case reports
// allow: the longest window (600 s), both sketches kept, and every second's sketches
// spanning the whole index range (one value at MinValue and one at MaxValue), as one pod
// can send them. "store" is the store as it is; "uncapped" keeps the sketch rings as report
// sketches merged whole, as the store did before MaxSketchBins, beside a store that keeps
// no sketch (the same pod ring): the baseline, measured in the same run.
func BenchmarkBytesPerTargetWorstCase(b *testing.B) {
	r := &reportv1.Report{
		Interval: reportv1.Interval{Start: time.Unix(0, 0), End: time.Unix(1, 0)},
		Requests: reportv1.Requests{Status2xx: 2},
	}
	for _, v := range []float64{reportv1.MinValue * 1.01, reportv1.MaxValue} {
		r.Latency.Add(v)
		r.TimeToFirstByte.Add(v)
	}
	seconds := int(MaxWindow / time.Second)
	measure := func(b *testing.B, fill func() any) {
		var perTarget float64
		for b.Loop() {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			kept := fill()
			runtime.GC()
			runtime.ReadMemStats(&after)
			perTarget = float64(after.HeapAlloc - before.HeapAlloc)
			runtime.KeepAlive(kept)
		}
		b.ReportMetric(perTarget, "bytes/target")
	}
	b.Run("store", func(b *testing.B) {
		var counted int64
		measure(b, func() any {
			s, clk := newStore(b, Config{Window: MaxWindow, Latency: true, TimeToFirstByte: true})
			for range seconds {
				if err := s.Record(key, Pod{"pod", "u"}, r); err != nil {
					b.Fatal(err)
				}
				clk.Step(time.Second)
			}
			counted = s.MemoryUsed()
			return s
		})
		b.ReportMetric(float64(counted), "counted-bytes/target")
	})
	b.Run("uncapped", func(b *testing.B) {
		type uncapped struct{ latency, ttfb reportv1.Sketch }
		measure(b, func() any {
			s, clk := newStore(b, Config{Window: MaxWindow})
			ring := make([]uncapped, seconds)
			for i := range seconds {
				if err := s.Record(key, Pod{"pod", "u"}, r); err != nil {
					b.Fatal(err)
				}
				ring[i].latency.Merge(&r.Latency)
				ring[i].ttfb.Merge(&r.TimeToFirstByte)
				clk.Step(time.Second)
			}
			return []any{s, ring}
		})
	})
}
