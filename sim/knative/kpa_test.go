package knative

import (
	"reflect"
	"testing"
	"time"

	"knative.dev/serving/pkg/apis/autoscaling"
	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	"knative.dev/serving/pkg/autoscaler/config"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// state is a target with n Ready pods at spec.replicas n.
func state(n int) *sim.State {
	st := &sim.State{Replicas: int32(n)}
	for i := range n {
		st.Pods = append(st.Pods, sim.PodInfo{Name: "p" + string(rune('a'+i%26)), Ready: true})
	}
	return st
}

// feed records `secs` seconds of a total concurrency of c over the Ready pods (as one
// scrape each second) and returns the time after them.
func feed(k *KPA, t time.Time, secs int, c float64) time.Time {
	for range secs {
		t = t.Add(time.Second)
		k.Observe(t, &sim.Second{End: t, Pods: []sim.PodSecond{{Name: "pa", Ready: true, Report: &reportv1.Report{InFlight: reportv1.Gauge{Average: c}}}}})
	}
	return t
}

// Knative's TestAutoscalerPanicModeExponentialTrackAndStabilize (pkg/autoscaler/scaling,
// v0.42.2), through the real metric collector instead of its fake metric client: target 1
// per pod, concurrency 6, 36, 216 and 1296 with as many pods as the previous step asked
// for; each step is 6× the pods, so panic mode holds and the desired count tracks the load
// exactly, and stays once the pods are there.
func TestReproducesKnativePanicModeExponentialTrackAndStabilize(t *testing.T) {
	cfg, err := config.NewConfigFromMap(nil)
	if err != nil {
		t.Fatal(err)
	}
	pa := &autoscalingv1alpha1.PodAutoscaler{}
	pa.Namespace, pa.Name = "sim", "rev"
	pa.Annotations = map[string]string{
		autoscaling.TargetAnnotationKey:            "1",
		autoscaling.TargetUtilizationPercentageKey: "100",
		autoscaling.MetricAnnotationKey:            autoscaling.Concurrency,
		autoscaling.TargetBurstCapacityKey:         "101",
	}
	k, err := newKPA(pa, cfg, 1, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	now := sim.Epoch
	for _, step := range []struct {
		ready int
		load  float64
		want  int32
	}{{1, 6, 6}, {6, 36, 36}, {36, 216, 216}, {216, 1296, 1296}, {1296, 1296, 1296}} {
		now = feed(k, now, 60, step.load)
		if got := k.Decide(now, state(step.ready)); got != step.want {
			t.Errorf("%d ready pods, concurrency %v: desired %d, want %d", step.ready, step.load, got, step.want)
		}
	}
}

func TestDefaultDeciderSpec(t *testing.T) {
	d, err := Spec(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	// containerConcurrency 4 at the default 70 % utilization; panic at 200 %; 60 s stable window.
	if d.TargetValue != 2.8 || d.TotalValue != 4 || d.PanicThreshold != 2 || d.StableWindow != 60*time.Second || d.MaxScaleUpRate != 1000 || d.MaxScaleDownRate != 2 {
		t.Errorf("decider spec %+v", d)
	}
}

// In the loop: a step of load on the e2e model server makes the KPA scale up and the SLO
// hold once it has, and it scales back down after the load.
func TestKPAInTheLoop(t *testing.T) {
	reqs, err := workload.Synthetic([]workload.Segment{{For: time.Minute, RPS: 5}, {For: 3 * time.Minute, RPS: 150}, {For: 2 * time.Minute, RPS: 5}}, workload.Arrivals{Kind: "poisson"}, 0, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := model.Presets["e2e"]
	k, err := New(int64(m.Slots), 0, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	res, err := sim.Run(sim.Config{Requests: reqs, Model: m, SLO: []sim.Target{{Percentile: 99, Latency: 300 * time.Millisecond}}, Seed: 1, Duration: 8 * time.Minute}, k)
	if err != nil {
		t.Fatal(err)
	}
	peak := int32(0)
	for _, s := range res.Samples {
		peak = max(peak, s.Ready)
	}
	last := res.Samples[len(res.Samples)-1]
	if peak < 3 || last.Ready >= peak || res.SecondsAttainment() < 0.8 {
		t.Errorf("peak %d ready, %d at the end, SLO seconds %.2f", peak, last.Ready, res.SecondsAttainment())
	}
}

// The KPA's collector keeps a goroutine on the wall clock; it must not leak into the results.
func TestKPADeterministic(t *testing.T) {
	reqs, err := workload.Synthetic([]workload.Segment{{For: 2 * time.Minute, RPS: 120}}, workload.Arrivals{Kind: "poisson"}, 0, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	var runs [2]*sim.Result
	for i := range runs {
		k, err := New(4, 0, 1, 20)
		if err != nil {
			t.Fatal(err)
		}
		runs[i], err = sim.Run(sim.Config{Requests: reqs, Model: model.Presets["e2e"], SLO: []sim.Target{{Percentile: 99, Latency: 300 * time.Millisecond}}, Seed: 2}, k)
		k.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(runs[0], runs[1]) {
		t.Error("two KPA runs with one seed differ")
	}
}
