package decision

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func TestScaleDownHoldCutsTheWindowToStartTimes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hold       int32 // spec.scaleDownHold.startDelays; 0: none
		userWindow int32 // behavior.scaleDown.stabilizationWindowSeconds; 0: HPA's default
		start      time.Duration
		want       int32 // the window stabilized with, in seconds
		note       bool
	}{
		{"no hold: HPA's window", 0, 0, 2 * time.Second, 300, false},
		{"no start time measured yet: HPA's window", 5, 0, 0, 300, false},
		{"pods that start in 2 s: the stable window, not 10 s", 5, 0, 2 * time.Second, 60, true},
		{"pods that start in 20 s: 5 start times", 5, 0, 20 * time.Second, 100, true},
		{"pods that take a minute: HPA's 300 s", 5, 0, time.Minute, 300, false},
		{"pods that take 2 minutes: never above the policy's window", 5, 0, 2 * time.Minute, 300, false},
		{"a window the user set shorter stays", 5, 30, 20 * time.Second, 30, false},
		{"a window the user set longer bounds the hold", 5, 900, 2 * time.Minute, 600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &v1alpha1.AutoscalingPolicySpec{MaxReplicas: 10, Metrics: []v1alpha1.MetricSpec{queueDepth("8")}}
			if tc.hold > 0 {
				spec.ScaleDownHold = &v1alpha1.ScaleDownHold{StartDelays: tc.hold}
			}
			if tc.userWindow > 0 {
				spec.Behavior = &v1alpha1.Behavior{ScaleDown: &v1alpha1.ScalingRules{StabilizationWindowSeconds: ptr.To(tc.userWindow)}}
			}
			spec = spec.Defaulted()
			a := &Autoscaler{}
			if tc.start > 0 {
				a.observeStartTime([]Pod{startedPod("p", t0.Add(-tc.start), t0)})
			}
			policyWindow := *spec.Behavior.ScaleDown.StabilizationWindowSeconds
			down, note := a.scaleDownRules(spec, time.Minute)
			if got := *down.StabilizationWindowSeconds; got != tc.want {
				t.Errorf("window %ds, want %ds", got, tc.want)
			}
			if (note != "") != tc.note {
				t.Errorf("note %q, want one: %v", note, tc.note)
			}
			if got := *spec.Behavior.ScaleDown.StabilizationWindowSeconds; got != policyWindow {
				t.Errorf("the policy's own window changed to %ds", got)
			}
		})
	}
}

func TestStartTimeIsTheLatestReadyPods(t *testing.T) {
	a := &Autoscaler{}
	a.observeStartTime([]Pod{
		startedPod("old", t0.Add(-time.Hour), t0.Add(-59*time.Minute)),                    // 60 s
		startedPod("new", t0.Add(-10*time.Minute), t0.Add(-9*time.Minute-50*time.Second)), // 10 s, Ready last
		{Name: "starting", Created: t0.Add(-time.Minute), Ready: corev1.ConditionFalse, ReadyTransition: t0},
		{Name: "unknown-creation", Ready: corev1.ConditionTrue, ReadyTransition: t0},
	})
	if a.startDelay != 10*time.Second {
		t.Fatalf("start time %s, want the pod Ready last: 10s", a.startDelay)
	}
	// That pod is gone; what it taught stays until another pod becomes Ready.
	a.observeStartTime(nil)
	a.observeStartTime([]Pod{startedPod("older", t0.Add(-2*time.Hour), t0.Add(-2*time.Hour+time.Second))})
	if a.startDelay != 10*time.Second {
		t.Fatalf("start time %s after a pod Ready earlier, want 10s kept", a.startDelay)
	}
	a.observeStartTime([]Pod{startedPod("newest", t0.Add(-time.Minute), t0)})
	if a.startDelay != time.Minute {
		t.Fatalf("start time %s, want the newest pod's 1m", a.startDelay)
	}
}

// TestScaleDownHoldInDecide: 8 pods started in 2 s each, the recommendation 8 a while ago and 1
// now. With the hold the peak is held for the stable window; without, HPA holds it for five
// minutes.
func TestScaleDownHoldInDecide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hold   bool
		peakAt time.Duration // how long ago the recommendation was 8
		want   int32
		reason string
	}{
		{"hold of 5 start times: given back after the stable window", true, 90 * time.Second, 1, ""},
		{"hold of 5 start times: held within it, and the reason says why", true, 30 * time.Second, 8, "last 60s is 8 (scaleDownHold: 5× the pods' 2s start)"},
		{"no hold: HPA's window", false, 90 * time.Second, 8, "last 300s is 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &v1alpha1.AutoscalingPolicySpec{MinReplicas: ptr.To[int32](1), MaxReplicas: 10, Metrics: []v1alpha1.MetricSpec{queueDepth("8")}}
			if tc.hold {
				spec.ScaleDownHold = &v1alpha1.ScaleDownHold{StartDelays: 5}
			}
			spec = spec.Defaulted()
			pods := agentPods(8)
			for i := range pods {
				pods[i].Created = pods[i].ReadyTransition.Add(-2 * time.Second)
			}
			in := agentInput(spec, 8, pods, repeat(8, 1), repeat(8, 1))
			a := &Autoscaler{recommendations: []timestampedRecommendation{{8, t0.Add(-tc.peakAt)}}}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != tc.want {
				t.Fatalf("desired %d, want %d (%s)", d.DesiredReplicas, tc.want, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", d.Reason, tc.reason)
			}
		})
	}
}

func startedPod(name string, created, ready time.Time) Pod {
	return Pod{Name: name, Phase: corev1.PodRunning, Ready: corev1.ConditionTrue, Created: created, StartTime: created, ReadyTransition: ready}
}

// TestScaleDownHoldBacksOffWhenAScaleDownIsTakenBack: pods that start in 2 s hold a peak for
// the 60 s stable window; a scale-up within it after a scale-down, back to no more than before,
// doubles the next hold, held to the policy's window, and a scale-down that stood a whole hold
// halves it again.
func TestScaleDownHoldBacksOffWhenAScaleDownIsTakenBack(t *testing.T) {
	spec := (&v1alpha1.AutoscalingPolicySpec{MaxReplicas: 10, Metrics: []v1alpha1.MetricSpec{queueDepth("8")},
		ScaleDownHold: &v1alpha1.ScaleDownHold{StartDelays: 5}}).Defaulted()
	a := &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0.Add(-time.Hour)}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		at       int
		from, to int32
		window   int32 // the hold the next decision stabilizes with, in seconds
	}
	for i, s := range []step{
		{0, 3, 2, 60},     // a scale-down
		{30, 2, 3, 120},   // taken back within the 60 s hold: doubled
		{400, 3, 2, 120},  // a scale-down after a scale-up: nothing to judge yet
		{450, 2, 3, 240},  // taken back within 120 s: doubled
		{1000, 3, 2, 240}, //
		{1100, 2, 3, 300}, // taken back again: 480 s, held to the policy's 300 s
		{2000, 3, 2, 300}, // a scale-down after a scale-up: nothing to judge yet
		{2400, 2, 1, 240}, // the one before stood 400 s: halved
	} {
		a.scaleDownRules(spec, time.Minute)
		a.Scaled(s.from, s.to, at(s.at))
		down, _ := a.scaleDownRules(spec, time.Minute)
		if got := *down.StabilizationWindowSeconds; got != s.window {
			t.Fatalf("step %d (%d → %d at %ds): window %ds, want %ds", i, s.from, s.to, s.at, got, s.window)
		}
	}

	// A scale-up past the count before the scale-down is a load that rose: no backoff.
	a = &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0.Add(-time.Hour)}
	a.scaleDownRules(spec, time.Minute)
	a.Scaled(3, 2, at(0))
	a.scaleDownRules(spec, time.Minute)
	a.Scaled(2, 8, at(30))
	if down, _ := a.scaleDownRules(spec, time.Minute); *down.StabilizationWindowSeconds != 60 {
		t.Fatalf("after a rise past the count before the scale-down: window %ds, want 60s", *down.StabilizationWindowSeconds)
	}

	// A scale-down that stood a whole hold, then another: halved.
	a = &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0.Add(-time.Hour), holdBackoff: 4}
	a.scaleDownRules(spec, time.Minute) // 240 s
	a.Scaled(5, 4, at(0))
	a.scaleDownRules(spec, time.Minute)
	a.Scaled(4, 3, at(300))
	if down, note := a.scaleDownRules(spec, time.Minute); *down.StabilizationWindowSeconds != 120 || !strings.Contains(note, "×2 after scale-downs taken back") {
		t.Fatalf("after a scale-down that stood: window %ds (%s), want 120s", *down.StabilizationWindowSeconds, note)
	}
}
