package decision

import (
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// One pod that reports an absurd queue (the most reports allow) in both windows moves its
// target only as fast as the scale-up rate policies allow (default: max(+100 %, +4 pods) per
// 15 s), however many pods the target has, never to maxReplicas in one tick.
func TestOnePodMovesItsTargetOnlyWithinTheRateRules(t *testing.T) {
	for _, c := range []struct {
		cur  int32
		want int32
	}{{1, 5}, {2, 6}, {5, 10}} {
		spec := policy(1, 100, queueDepth("4"))
		stable, burst := repeat(int(c.cur), 1), repeat(int(c.cur), 1)
		stable[0], burst[0] = reportv1.MaxInFlight, reportv1.MaxInFlight
		a := &Autoscaler{}
		d := a.Decide(agentInput(spec, c.cur, agentPods(int(c.cur)), stable, burst), t0)
		if d.DesiredReplicas != c.want {
			t.Errorf("%d pods, one lying: desired %d, want %d (%s)", c.cur, d.DesiredReplicas, c.want, d.Reason)
		}
		checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonScaleUpLimit)
		// Next tick, still within the rate period: no further step.
		a.Scaled(c.cur, d.DesiredReplicas, t0)
		in := agentInput(spec, d.DesiredReplicas, agentPods(int(d.DesiredReplicas)), stable, burst)
		if d2 := a.Decide(in, t0.Add(time.Second)); d2.DesiredReplicas != d.DesiredReplicas {
			t.Errorf("%d pods, one lying, a second later: desired %d, want %d (%s)", c.cur, d2.DesiredReplicas, d.DesiredReplicas, d2.Reason)
		}
	}
}

// Two pods that both report the spike are evidence: burst mode goes to it at once, but only as
// far as the second-largest pod's value supports.
func TestBurstRestsOnTheSecondPod(t *testing.T) {
	spec := policy(1, 100, queueDepth("4"))
	// Pod 0 claims 1e6, pod 1 says 20, pods 2, 3 say 4: evidence caps pod 0 at 20,
	// (20+20+4+4)/4 ready = 12/replica → 12 pods.
	in := agentInput(spec, 4, agentPods(4), []float64{5, 5, 5, 5}, []float64{1e6, 20, 4, 4})
	d := (&Autoscaler{}).Decide(in, t0)
	if !d.Burst || d.DesiredReplicas != 12 {
		t.Errorf("desired %d burst=%v, want 12 in burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
}

func TestLatencyBurstNeedsTwoServingPods(t *testing.T) {
	spec := policy(1, 100, latencyP99(100*time.Millisecond, 20))
	slow := func(pods ...string) Window {
		w := Window{Window: 6 * time.Second, Pods: map[string]window.PodStats{}}
		for _, p := range pods {
			w.Pods[p] = window.PodStats{Seconds: 6, Requests: 100}
		}
		for range 200 {
			w.Latency.Add(10) // 10 s against 100 ms: 100 times the target
		}
		return w
	}
	for _, c := range []struct {
		name string
		pods []string
		want int32
	}{
		// One pod's requests: the default scale-up policies allow max(2+100 %, 2+4) = 6.
		{"one pod", []string{"test-pod-0"}, 6},
		{"two pods", []string{"test-pod-0", "test-pod-1"}, 100},
	} {
		in := &Input{Spec: spec, CurrentReplicas: 2, Pods: agentPods(2), Covered: time.Minute,
			Stable: Window{Window: time.Minute, Pods: map[string]window.PodStats{"test-pod-0": {Seconds: 60}, "test-pod-1": {Seconds: 60}}},
			Burst:  slow(c.pods...)}
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != c.want || !d.Burst {
			t.Errorf("%s: desired %d burst=%v, want %d in burst (%s)", c.name, d.DesiredReplicas, d.Burst, c.want, d.Reason)
		}
	}
}

func TestNonFiniteValueIsInvalidNotMaxReplicas(t *testing.T) {
	for _, v := range []float64{math.Inf(1), math.NaN()} {
		spec := policy(1, 100, queueDepth("4"))
		in := agentInput(spec, 3, agentPods(3), []float64{v, 1, 1}, []float64{v, 1, 1})
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != 3 || !d.Hold {
			t.Errorf("in-flight %v: desired %d hold=%v, want a hold at 3 (%s)", v, d.DesiredReplicas, d.Hold, d.Reason)
		}
		if c := condition(d, v1alpha1.ScalingActive); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonInvalidMetricSourceType {
			t.Errorf("in-flight %v: ScalingActive %s %s (%s)", v, c.Status, c.Reason, c.Message)
		}
	}
}

func TestEvidencedCapsEachPodAtTheOthers(t *testing.T) {
	w := Window{Pods: map[string]window.PodStats{
		"a": {InFlight: 100, RequestRate: 1, ModelMetrics: map[string]float64{"g": 9, "only-a": 5}},
		"b": {InFlight: 7, RequestRate: 3, ModelMetrics: map[string]float64{"g": -2}},
		"c": {InFlight: 7, RequestRate: 2},
	}}
	got := evidenced(&w)
	for pod, want := range map[string][2]float64{"a": {7, 1}, "b": {7, 2}, "c": {7, 2}} {
		if st := got.Pods[pod]; st.InFlight != want[0] || st.RequestRate != want[1] {
			t.Errorf("%s: in-flight %v rate %v, want %v", pod, st.InFlight, st.RequestRate, want)
		}
	}
	if m := got.Pods["a"].ModelMetrics; m["g"] != -2 || len(m) != 1 {
		t.Errorf("a's gauges %v, want g capped at b's -2 and only-a dropped", m)
	}
	if m := got.Pods["b"].ModelMetrics; m["g"] != -2 {
		t.Errorf("b's gauges %v", m)
	}
}
