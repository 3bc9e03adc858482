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
		{"a start time of a century (a clock gone wrong): the policy's window, no overflow", 5, 0, 100 * 365 * 24 * time.Hour, 300, false},
		{"an unvalidated hold of 2³¹-1 start times: the policy's window, no overflow", 1<<31 - 1, 3600, 3599 * time.Second, 3600, false},
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
// the 60 s stable window. A scale-down from 3 to 2 taken back within it makes later scale-downs
// to 2 or fewer wait twice as long, held to the policy's window; scale-downs that end above 2
// keep the minute; a scale-down that stood its whole hold halves the wait again.
func TestScaleDownHoldBacksOffWhenAScaleDownIsTakenBack(t *testing.T) {
	spec := (&v1alpha1.AutoscalingPolicySpec{MaxReplicas: 30, Metrics: []v1alpha1.MetricSpec{queueDepth("8")},
		ScaleDownHold: &v1alpha1.ScaleDownHold{StartDelays: 5}}).Defaulted()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0.Add(-time.Hour)}
	scaled := func(from, to int32, s int) {
		a.scaleDownRules(spec, time.Minute)
		a.Scaled(from, to, at(s))
		a.scaleDownRules(spec, time.Minute)
	}

	scaled(3, 2, 0)
	scaled(2, 3, 30) // taken back within the minute
	if a.flapWindow != 2*time.Minute || a.flapAt != 2 {
		t.Fatalf("after a scale-down taken back: wait %s below %d, want 2m0s below 2", a.flapWindow, a.flapAt)
	}
	if down, _ := a.scaleDownRules(spec, time.Minute); *down.StabilizationWindowSeconds != 60 {
		t.Errorf("the hold of other scale-downs is %ds, want 60s", *down.StabilizationWindowSeconds)
	}
	for _, c := range []struct {
		name                    string
		s                       int
		demand, stabilized, cur int32
		want                    int32
	}{
		{"to the count taken back, 70 s after the last recommendation above it: held", 100, 2, 2, 3, 3},
		{"to fewer than that: held at the count above it", 110, 1, 1, 3, 3},
		{"after 2 minutes without a recommendation above it: down", 151, 2, 2, 3, 2},
		{"a scale-down that ends above it: the minute's hold", 152, 5, 5, 16, 5},
		{"no scale-down: nothing to hold", 153, 3, 3, 3, 3},
	} {
		if got, _ := a.holdFlap(c.demand, c.stabilized, c.cur, at(c.s)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	scaled(3, 2, 200)
	scaled(2, 3, 300) // taken back within the 2 minutes
	scaled(3, 2, 800)
	scaled(2, 3, 1000) // and again, within 4 minutes
	if a.flapWindow != 5*time.Minute {
		t.Fatalf("after three scale-downs taken back: wait %s, want the policy's 5m0s", a.flapWindow)
	}
	scaled(3, 2, 1500)
	scaled(2, 1, 1900) // the one before stood its 5 minutes: 8× → 4×
	if a.flapWindow != 4*time.Minute {
		t.Fatalf("after a scale-down that stood: wait %s, want 4m0s", a.flapWindow)
	}

	// A scale-up past the count before the scale-down is a load that rose: no backoff.
	a = &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0.Add(-time.Hour)}
	scaled(3, 2, 0)
	scaled(2, 8, 30)
	if a.holdBackoff > 1 {
		t.Fatalf("a rise past the count before the scale-down backed off: %d×", a.holdBackoff)
	}
}

// A latency percentile still over target from a backlog holds the count up (the guard), but
// that is no load above the count a scale-down was taken back from: only a demand above it
// starts that count's backed-off hold again.
func TestGuardedRecommendationDoesNotRenewTheBackedOffHold(t *testing.T) {
	learned := capacity{safe: 4, safeLatency: 0.5, saturated: 5}
	for _, tc := range []struct {
		name  string
		rate  float64 // per pod, of 3
		renew bool
	}{
		// 3 req/s in all at 4 per replica: a demand of 1; p99 1.5s holds the count at 3.
		{"held by the guard at a demand of 1: not renewed", 1, false},
		// 9 req/s: a demand of 3, above the 2 taken back.
		{"a demand above the count: renewed", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := servedInput(3, 3, tc.rate, 1, 1.5)
			in.Spec.ScaleDownHold = &v1alpha1.ScaleDownHold{StartDelays: 5}
			before := t0.Add(-100 * time.Second)
			a := &Autoscaler{capacity: map[string]*capacity{"Latency p99": ptrTo(learned)}, recommendations: []timestampedRecommendation{},
				startDelay: 2 * time.Second, startDelayAt: t0, holdBackoff: 2, flapAt: 2, aboveFlap: before}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != 3 {
				t.Fatalf("desired %d, want 3 (%s)", d.DesiredReplicas, d.Reason)
			}
			if renewed := a.aboveFlap.After(before); renewed != tc.renew {
				t.Errorf("hold renewed = %v, want %v (%s)", renewed, tc.renew, d.Reason)
			}
		})
	}
}
