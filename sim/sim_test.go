package sim

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/internal/policyfile"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

var p99 = []Target{{Percentile: 99, Latency: 300 * time.Millisecond}}

func steady(t *testing.T, rps float64, d time.Duration, seed uint64) []workload.Request {
	t.Helper()
	reqs, err := workload.Synthetic([]workload.Segment{{For: d, RPS: rps}}, workload.Arrivals{Kind: "poisson"}, 0, 8, seed)
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// recorder is a fixed-size autoscaler that keeps what the agents reported.
type recorder struct {
	inFlight float64 // Σ over seconds and pods of the reports' in-flight averages
	seconds  int
}

func (*recorder) Name() string            { return "fixed" }
func (*recorder) Interval() time.Duration { return time.Second }
func (r *recorder) Observe(_ time.Time, s *Second) {
	for _, p := range s.Pods {
		r.inFlight += p.Report.InFlight.Average
	}
	r.seconds++
}
func (*recorder) Decide(_ time.Time, s *State) int32 { return s.Replicas }

// Little's law on steady load: the agents' time-averaged in-flight gauge equals the arrival
// rate times the mean latency.
func TestLittlesLawOnSteadyLoad(t *testing.T) {
	const rps = 100.0
	d := 20 * time.Minute
	reqs := steady(t, rps, d, 3)
	rec := &recorder{}
	res, err := Run(Config{Requests: reqs, Model: model.Presets["e2e"], InitialReplicas: 2, SLO: p99, Seed: 3, Duration: d}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed < len(reqs)-50 {
		t.Fatalf("%d of %d completed", res.Completed, len(reqs))
	}
	l := rec.inFlight / float64(rec.seconds)
	lambda := float64(len(reqs)) / d.Seconds()
	w := res.Latency.Sum() / float64(res.Latency.Count())
	if math.Abs(l-lambda*w) > 0.02*l {
		t.Errorf("L = %.3f, λW = %.1f × %.4f = %.3f", l, lambda, w, lambda*w)
	}
}

func demoPolicy(t *testing.T) *v1alpha1.AutoscalingPolicySpec {
	t.Helper()
	p, err := policyfile.One([]byte(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: m, namespace: sim}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: m}
  maxReplicas: 10
  metrics:
  - type: Latency
    latency: {percentile: 99, target: 300ms}
  - type: QueueDepth
    queueDepth: {averageValue: 4}
`))
	if err != nil {
		t.Fatal(err)
	}
	return &p.Spec
}

func TestDeterministicUnderASeed(t *testing.T) {
	reqs := steady(t, 150, 3*time.Minute, 9)
	sc := &Scenario{Requests: reqs, Model: model.Presets["e2e"], Policy: demoPolicy(t), Seed: 9, Duration: 5 * time.Minute}
	a, err := Compare(sc, Builtin())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compare(sc, Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs with the same seed differ")
	}
	sc.Seed = 10
	c, err := Compare(sc, Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a[0].Samples, c[0].Samples) {
		t.Error("another seed gave the same run")
	}
	names := []string{}
	for _, r := range a {
		names = append(names, r.Autoscaler)
	}
	if !reflect.DeepEqual(names, []string{"inferscale", "hpa-cpu", "keda", "oracle"}) {
		t.Errorf("autoscalers %v", names)
	}
}

// 150 req/s needs about 150 × 50 ms / 4 slots ≈ 2 replicas at full use and more for p99:
// inferscale must scale up from 1 and meet the SLO once it has, and the oracle with it.
func TestInferscaleScalesUpOnLoad(t *testing.T) {
	reqs := steady(t, 150, 5*time.Minute, 1)
	sc := &Scenario{Requests: reqs, Model: model.Presets["e2e"], Policy: demoPolicy(t), Seed: 1}
	res, err := Compare(sc, Builtin()[:1])
	if err != nil {
		t.Fatal(err)
	}
	is, oracle := res[0], res[1]
	last := is.Samples[len(is.Samples)-1]
	if last.Ready < 3 {
		t.Errorf("inferscale ends with %d ready replicas, want at least 3", last.Ready)
	}
	if is.SecondsAttainment() < 0.8 || oracle.SecondsAttainment() < 0.95 {
		t.Errorf("SLO seconds attainment: inferscale %.2f, oracle %.2f", is.SecondsAttainment(), oracle.SecondsAttainment())
	}
	if oracle.ReplicaSeconds > is.ReplicaSeconds {
		t.Errorf("oracle used %.0f replica-seconds, more than inferscale's %.0f", oracle.ReplicaSeconds, is.ReplicaSeconds)
	}
}

// A pod that is scaled away drains: it takes no new requests and finishes its own.
func TestScaleDownDrains(t *testing.T) {
	reqs := steady(t, 60, 2*time.Minute, 4)
	res, err := Run(Config{Requests: reqs, Model: model.Presets["e2e"], InitialReplicas: 3, SLO: p99, Seed: 4}, &shrink{at: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Completed != len(reqs) {
		t.Errorf("%d failed, %d of %d completed", res.Failed, res.Completed, len(reqs))
	}
	if s := res.Samples[len(res.Samples)-1]; s.Pods != 1 || s.Ready != 1 {
		t.Errorf("after the scale-down: %d pods, %d ready", s.Pods, s.Ready)
	}
}

type shrink struct{ at time.Duration }

func (*shrink) Name() string               { return "shrink" }
func (*shrink) Interval() time.Duration    { return time.Second }
func (*shrink) Observe(time.Time, *Second) {}
func (s *shrink) Decide(now time.Time, st *State) int32 {
	if now.Sub(Epoch) >= s.at {
		return 1
	}
	return st.Replicas
}

// The agents' reports carry the time per output token the agent's own measurement code
// builds, one per request of more than one token, and a TPOT target judges it.
func TestTimePerOutputTokenReportedAndJudged(t *testing.T) {
	d := 2 * time.Minute
	reqs := steady(t, 20, d, 5)
	for _, tc := range []struct {
		name   string
		target time.Duration
		within func(completed int) bool
	}{
		{"a target above every token's time: all within", time.Minute, func(c int) bool { return c > 0 }},
		{"a target below any token's time: none within", time.Microsecond, func(int) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &tpotRecorder{}
			slo := []Target{{Percentile: 99, Latency: tc.target, TimePerOutputToken: true}}
			res, err := Run(Config{Requests: reqs, Model: model.Presets["e2e"], InitialReplicas: 2, SLO: slo, Seed: 5, Duration: d}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if rec.count == 0 || rec.count != res.TPOT.Count() {
				t.Errorf("reports held %d times per output token, the run measured %d", rec.count, res.TPOT.Count())
			}
			if all := res.WithinSLO == res.Completed; all != tc.within(res.Completed) || (!all && res.WithinSLO != 0) {
				t.Errorf("%d of %d requests within %s", res.WithinSLO, res.Completed, slo[0])
			}
		})
	}
}

// tpotRecorder is a fixed-size autoscaler that counts the reports' times per output token.
type tpotRecorder struct{ count uint64 }

func (*tpotRecorder) Name() string            { return "fixed" }
func (*tpotRecorder) Interval() time.Duration { return time.Second }
func (r *tpotRecorder) Observe(_ time.Time, s *Second) {
	for _, p := range s.Pods {
		r.count += p.Report.TimePerOutputToken.Count()
	}
}
func (*tpotRecorder) Decide(_ time.Time, s *State) int32 { return s.Replicas }
