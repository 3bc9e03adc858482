package decision

// Ports of the behavior cases of Kubernetes' pkg/controller/podautoscaler/horizontal_test.go
// (v1.37.2): the same numbers against the stabilization and rate-policy code, with a fixed
// clock. Each case is named "<upstream test>/<upstream case>".

import (
	"slices"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// scalingRules is upstream's generateScalingRules.
func scalingRules(pods, podsPeriod, percent, percentPeriod, stabilizationWindow int32) *v1alpha1.ScalingRules {
	r := &v1alpha1.ScalingRules{
		StabilizationWindowSeconds: ptr.To(stabilizationWindow),
		SelectPolicy:               ptr.To(v1alpha1.MaxChangePolicySelect),
	}
	if pods != 0 {
		r.Policies = append(r.Policies, v1alpha1.ScalingPolicy{Type: v1alpha1.PodsScalingPolicy, Value: pods, PeriodSeconds: podsPeriod})
	}
	if percent != 0 {
		r.Policies = append(r.Policies, v1alpha1.ScalingPolicy{Type: v1alpha1.PercentScalingPolicy, Value: percent, PeriodSeconds: percentPeriod})
	}
	return r
}

// uniformEvents is upstream's generateEventsUniformDistribution: the events spread over the
// last periodSeconds, each in the middle of its segment.
func uniformEvents(raw []int, periodSeconds int) []scaleEvent {
	events := make([]scaleEvent, len(raw))
	segment := float64(periodSeconds) / float64(len(raw))
	for i, change := range raw {
		boundary := time.Duration(float64(periodSeconds) - segment*float64(i+1) + segment/2)
		events[i] = scaleEvent{replicaChange: int32(change), timestamp: t0.Add(-time.Second * boundary)}
	}
	return events
}

// defaultedBehavior returns the rules as HPA's GenerateHPAScaleUpRules/DownRules (and our
// Defaulted) complete them.
func defaultedBehavior(up, down *v1alpha1.ScalingRules) (*v1alpha1.ScalingRules, *v1alpha1.ScalingRules) {
	spec := &v1alpha1.AutoscalingPolicySpec{MaxReplicas: 1, Behavior: &v1alpha1.Behavior{ScaleUp: up, ScaleDown: down}}
	b := spec.Defaulted().Behavior
	return b.ScaleUp, b.ScaleDown
}

func TestScalingWithRules(t *testing.T) {
	cases := []struct {
		name                   string
		scaleUpEvents          []scaleEvent
		scaleDownEvents        []scaleEvent
		min, max               int32
		scaleUpRules           *v1alpha1.ScalingRules
		scaleDownRules         *v1alpha1.ScalingRules
		current, prenormalized int32
		wantReplicas           int32
		wantCondition          string
	}{
		{name: "prenormalized desired replicas within range", current: 5, prenormalized: 7, min: 3, max: 8, wantReplicas: 7, wantCondition: "DesiredWithinRange"},
		{name: "prenormalized desired replicas < minReplicas", current: 3, prenormalized: 1, min: 2, max: 8, wantReplicas: 2, wantCondition: "TooFewReplicas"},
		{name: "prenormalized desired replicas within range when minReplicas is 0", current: 1, prenormalized: 0, min: 0, max: 10, wantReplicas: 0, wantCondition: "DesiredWithinRange"},
		{name: "maxReplicas is the limit because maxReplicas < scaleUpLimit", current: 20, prenormalized: 1000, min: 1, max: 10, wantReplicas: 10, wantCondition: "TooManyReplicas"},
		{name: "desired replica count is more than the maximum replica count", current: 100, prenormalized: 1000, min: 100, max: 150, wantReplicas: 150, wantCondition: "TooManyReplicas"},
		{name: "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", current: 3, prenormalized: 1000, min: 1, max: 2000, scaleUpRules: scalingRules(0, 0, 1, 60, 0), wantReplicas: 4, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with default behavior", min: 1, max: 1000, current: 10, prenormalized: 50, wantReplicas: 20, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with pods policy larger than percent policy", min: 1, max: 1000, scaleUpRules: scalingRules(100, 60, 100, 60, 0), current: 10, prenormalized: 500, wantReplicas: 110, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with percent policy larger than pods policy", min: 1, max: 1000, scaleUpRules: scalingRules(2, 60, 100, 60, 0), current: 10, prenormalized: 500, wantReplicas: 20, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with spec MaxReplicas limitation with large pod policy", min: 1, max: 1000, scaleUpRules: scalingRules(100, 60, 0, 0, 0), current: 10, prenormalized: 50, wantReplicas: 50, wantCondition: "DesiredWithinRange"},
		{name: "scaleUp with spec MaxReplicas limitation with large percent policy", min: 1, max: 1000, scaleUpRules: scalingRules(10000, 60, 0, 0, 0), current: 10, prenormalized: 50, wantReplicas: 50, wantCondition: "DesiredWithinRange"},
		{name: "scaleUp with pod policy limitation", min: 1, max: 1000, scaleUpRules: scalingRules(30, 60, 0, 0, 0), current: 10, prenormalized: 50, wantReplicas: 40, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with percent policy limitation", min: 1, max: 1000, scaleUpRules: scalingRules(0, 0, 200, 60, 0), current: 10, prenormalized: 50, wantReplicas: 30, wantCondition: "ScaleUpLimit"},
		{name: "scaleDown with percent policy larger than pod policy", min: 1, max: 1000, scaleDownRules: scalingRules(20, 60, 1, 60, 300), current: 100, prenormalized: 2, wantReplicas: 80, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with pod policy larger than percent policy", min: 1, max: 1000, scaleDownRules: scalingRules(2, 60, 1, 60, 300), current: 100, prenormalized: 2, wantReplicas: 98, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with spec MinReplicas limitation with large pod policy", min: 1, max: 1000, scaleDownRules: scalingRules(100, 60, 0, 0, 300), current: 10, prenormalized: 0, wantReplicas: 1, wantCondition: "TooFewReplicas"},
		{name: "scaleDown with spec MinReplicas limitation with large percent policy", min: 5, max: 1000, scaleDownRules: scalingRules(0, 0, 100, 60, 300), current: 10, prenormalized: 2, wantReplicas: 5, wantCondition: "TooFewReplicas"},
		{name: "scaleDown with pod policy limitation", min: 1, max: 1000, scaleDownRules: scalingRules(5, 60, 0, 0, 300), current: 10, prenormalized: 2, wantReplicas: 5, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with percent policy limitation", min: 1, max: 1000, scaleDownRules: scalingRules(0, 0, 50, 60, 300), current: 10, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
		{name: "scaleUp with spec MaxReplicas limitation with large pod policy and events", scaleUpEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 200, scaleUpRules: scalingRules(300, 60, 0, 0, 0), current: 100, prenormalized: 500, wantReplicas: 200, wantCondition: "TooManyReplicas"},
		{name: "scaleUp with spec MaxReplicas limitation with large percent policy and events", scaleUpEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 200, scaleUpRules: scalingRules(0, 0, 10000, 60, 0), current: 100, prenormalized: 500, wantReplicas: 200, wantCondition: "TooManyReplicas"},
		{name: "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", scaleUpEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(5, 120, 0, 0, 0), current: 100, prenormalized: 500, wantReplicas: 100, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with pod policy and previous scale up events", scaleUpEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(150, 120, 0, 0, 0), current: 100, prenormalized: 500, wantReplicas: 235, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with percent policy and previous scale up events", scaleUpEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(0, 0, 200, 120, 0), current: 100, prenormalized: 500, wantReplicas: 255, wantCondition: "ScaleUpLimit"},
		{name: "scaleUp with percent policy and previous scale up and down events", scaleUpEvents: uniformEvents([]int{4}, 120), scaleDownEvents: uniformEvents([]int{2}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(0, 0, 300, 300, 0), current: 6, prenormalized: 24, wantReplicas: 16, wantCondition: "ScaleUpLimit"},
		{name: "scaleDown with default policy and previous events", scaleDownEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, current: 10, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
		{name: "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", scaleDownEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(115, 120, 0, 0, 300), current: 100, prenormalized: 0, wantReplicas: 1, wantCondition: "TooFewReplicas"},
		{name: "scaleDown with spec MinReplicas limitation with large pod policy and previous events", scaleDownEvents: uniformEvents([]int{1, 5, 9}, 120), min: 5, max: 1000, scaleDownRules: scalingRules(130, 120, 0, 0, 300), current: 100, prenormalized: 0, wantReplicas: 5, wantCondition: "TooFewReplicas"},
		{name: "scaleDown with spec MinReplicas limitation with large percent policy and previous events", scaleDownEvents: uniformEvents([]int{1, 5, 9}, 120), min: 5, max: 1000, scaleDownRules: scalingRules(0, 0, 100, 120, 300), current: 100, prenormalized: 2, wantReplicas: 5, wantCondition: "TooFewReplicas"},
		{name: "scaleDown with pod policy limitation and previous events", scaleDownEvents: uniformEvents([]int{1, 5, 9}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(5, 120, 0, 0, 300), current: 100, prenormalized: 2, wantReplicas: 100, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with percent policy limitation and previous events", scaleDownEvents: uniformEvents([]int{2, 4, 6}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(0, 0, 50, 120, 300), current: 100, prenormalized: 0, wantReplicas: 56, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with percent policy and previous scale up and down events", scaleUpEvents: uniformEvents([]int{2}, 120), scaleDownEvents: uniformEvents([]int{4}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(0, 0, 50, 180, 0), current: 10, prenormalized: 1, wantReplicas: 6, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with previous events preventing further scale down", scaleDownEvents: uniformEvents([]int{10, 10, 10}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(0, 0, 10, 120, 300), current: 100, prenormalized: 0, wantReplicas: 100, wantCondition: "ScaleDownLimit"},
		{name: "scaleDown with with previous events still allowing more scale down", scaleDownEvents: uniformEvents([]int{10, 10, 10}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(0, 0, 1000, 120, 300), current: 10, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
		{name: "check 'outdated' flag for events for one behavior for up", scaleUpEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(1000, 60, 0, 0, 0), current: 100, prenormalized: 200, wantReplicas: 200, wantCondition: "DesiredWithinRange"},
		{name: "check that events were not marked 'outdated' for two different policies in the behavior for up", scaleUpEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(1000, 120, 100, 60, 0), current: 100, prenormalized: 200, wantReplicas: 200, wantCondition: "DesiredWithinRange"},
		{name: "check that events were marked 'outdated' for two different policies in the behavior for up", scaleUpEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleUpRules: scalingRules(1000, 30, 100, 60, 0), current: 100, prenormalized: 200, wantReplicas: 200, wantCondition: "DesiredWithinRange"},
		{name: "check 'outdated' flag for events for one behavior for down", scaleDownEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(1000, 60, 0, 0, 300), current: 100, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
		{name: "check that events were not marked 'outdated' for two different policies in the behavior for down", scaleDownEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(1000, 120, 100, 60, 300), current: 100, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
		{name: "check that events were marked 'outdated' for two different policies in the behavior for down", scaleDownEvents: uniformEvents([]int{8, 12, 9, 11}, 120), min: 1, max: 1000, scaleDownRules: scalingRules(1000, 30, 100, 60, 300), current: 100, prenormalized: 5, wantReplicas: 5, wantCondition: "DesiredWithinRange"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Autoscaler{scaleUpEvents: slices.Clone(tc.scaleUpEvents), scaleDownEvents: slices.Clone(tc.scaleDownEvents)}
			up, down := defaultedBehavior(tc.scaleUpRules, tc.scaleDownRules)
			l := a.limitRate(tc.prenormalized, tc.current, tc.min, tc.max, up, down, t0)
			if l.replicas != tc.wantReplicas || l.reason != tc.wantCondition {
				t.Errorf("got %d %s, want %d %s", l.replicas, l.reason, tc.wantReplicas, tc.wantCondition)
			}
		})
	}
}

func TestCalculateScaleUpLimitWithScalingRules(t *testing.T) {
	rules := scalingRules(2, 60, 50, 60, 300)
	rules.SelectPolicy = ptr.To(v1alpha1.MinChangePolicySelect)
	if got, _ := scaleUpLimitWithRules(1, nil, nil, rules, t0); got != 2 {
		t.Errorf("scale-up limit = %d, want 2", got)
	}
}

func TestCalculateScaleDownLimitWithBehaviors(t *testing.T) {
	rules := scalingRules(2, 60, 50, 60, 300)
	rules.SelectPolicy = ptr.To(v1alpha1.MinChangePolicySelect)
	if got, _ := scaleDownLimitWithRules(5, nil, nil, rules, t0); got != 3 {
		t.Errorf("scale-down limit = %d, want 3", got)
	}
}

func TestSelectPolicyDisabled(t *testing.T) {
	disabled := scalingRules(4, 15, 100, 15, 0)
	disabled.SelectPolicy = ptr.To(v1alpha1.DisabledPolicySelect)
	up, down := defaultedBehavior(disabled, disabled)
	a := &Autoscaler{}
	if l := a.limitRate(10, 3, 1, 20, up, down, t0); l.replicas != 3 || l.reason != v1alpha1.ReasonScaleUpLimit || l.note != "limited by scaleUp selectPolicy Disabled" {
		t.Errorf("scale-up: got %+v, want 3 ScaleUpLimit limited by scaleUp selectPolicy Disabled", l)
	}
	if l := a.limitRate(1, 3, 1, 20, up, down, t0); l.replicas != 3 || l.reason != v1alpha1.ReasonScaleDownLimit {
		t.Errorf("scale-down: got %+v, want 3 ScaleDownLimit", l)
	}
}

func TestNormalizeDesiredReplicasWithBehavior(t *testing.T) {
	now := t0
	cases := []struct {
		name                   string
		recommendations        []timestampedRecommendation
		current, prenormalized int32
		wantStabilized         int32
		upWindow, downWindow   int32
		wantKept               []int32 // recommendations left, newest last
	}{
		{name: "empty recommendations for scaling down", recommendations: []timestampedRecommendation{}, current: 100, prenormalized: 5, wantStabilized: 5, wantKept: []int32{5}},
		{name: "simple scale down stabilization", recommendations: []timestampedRecommendation{{4, now.Add(-2 * time.Minute)}, {5, now.Add(-1 * time.Minute)}}, current: 100, prenormalized: 3, wantStabilized: 5, downWindow: 180, wantKept: []int32{4, 5, 3}},
		{name: "simple scale up stabilization", recommendations: []timestampedRecommendation{{4, now.Add(-2 * time.Minute)}, {5, now.Add(-1 * time.Minute)}}, current: 1, prenormalized: 7, wantStabilized: 4, upWindow: 300, wantKept: []int32{4, 5, 7}},
		{name: "no scale down stabilization", recommendations: []timestampedRecommendation{{1, now.Add(-2 * time.Minute)}, {2, now.Add(-1 * time.Minute)}}, current: 100, prenormalized: 3, wantStabilized: 3, upWindow: 300, wantKept: []int32{1, 2, 3}},
		{name: "no scale up stabilization", recommendations: []timestampedRecommendation{{4, now.Add(-2 * time.Minute)}, {5, now.Add(-1 * time.Minute)}}, current: 1, prenormalized: 3, wantStabilized: 3, downWindow: 300, wantKept: []int32{4, 5, 3}},
		// Upstream reuses one expired slot and keeps the other; we drop both.
		{name: "no scale down stabilization, reuse recommendation element", recommendations: []timestampedRecommendation{{10, now.Add(-10 * time.Minute)}, {9, now.Add(-9 * time.Minute)}}, current: 100, prenormalized: 3, wantStabilized: 3, wantKept: []int32{3}},
		{name: "no scale up stabilization, reuse recommendation element", recommendations: []timestampedRecommendation{{10, now.Add(-10 * time.Minute)}, {9, now.Add(-9 * time.Minute)}}, current: 1, prenormalized: 100, wantStabilized: 100, wantKept: []int32{100}},
		{name: "scale down stabilization, reuse one of obsolete recommendation element", recommendations: []timestampedRecommendation{{10, now.Add(-10 * time.Minute)}, {4, now.Add(-1 * time.Minute)}, {5, now.Add(-2 * time.Minute)}, {9, now.Add(-9 * time.Minute)}}, current: 100, prenormalized: 3, wantStabilized: 5, downWindow: 180, wantKept: []int32{4, 5, 3}},
		// Upstream's scale-down window here is its 300 s default.
		{name: "scale up stabilization, reuse one of obsolete recommendation element", recommendations: []timestampedRecommendation{{10, now.Add(-100 * time.Minute)}, {6, now.Add(-1 * time.Minute)}, {5, now.Add(-2 * time.Minute)}, {9, now.Add(-3 * time.Minute)}}, current: 1, prenormalized: 100, wantStabilized: 5, upWindow: 300, wantKept: []int32{6, 5, 9, 100}},
		{name: "scale up and down stabilization, do not scale up when prenormalized rec goes down", recommendations: []timestampedRecommendation{{2, now.Add(-100 * time.Minute)}, {3, now.Add(-3 * time.Minute)}}, current: 2, prenormalized: 1, wantStabilized: 2, upWindow: 300, downWindow: 300},
		{name: "scale up and down stabilization, do not scale down when prenormalized rec goes up", recommendations: []timestampedRecommendation{{2, now.Add(-100 * time.Minute)}, {1, now.Add(-3 * time.Minute)}}, current: 2, prenormalized: 3, wantStabilized: 2, upWindow: 300, downWindow: 300},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Autoscaler{recommendations: slices.Clone(tc.recommendations)}
			up := &v1alpha1.ScalingRules{StabilizationWindowSeconds: ptr.To(tc.upWindow)}
			down := &v1alpha1.ScalingRules{StabilizationWindowSeconds: ptr.To(tc.downWindow)}
			if got, _, _ := a.stabilize(tc.prenormalized, tc.current, up, down, now); got != tc.wantStabilized {
				t.Errorf("stabilized = %d, want %d", got, tc.wantStabilized)
			}
			if tc.wantKept == nil {
				return
			}
			var kept []int32
			for _, r := range a.recommendations {
				kept = append(kept, r.recommendation)
			}
			if !slices.Equal(kept, tc.wantKept) {
				t.Errorf("recommendations = %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

// TestStoreScaleEvents ports upstream's cases that have a behavior (ours always has one):
// the change counted over 60 s before and, after the new event, the events kept. Upstream
// keeps outdated events flagged for reuse; we drop them.
func TestStoreScaleEvents(t *testing.T) {
	cases := []struct {
		name       string
		prev       []scaleEvent
		rules      *v1alpha1.ScalingRules
		wantChange int32
		wantKept   []int32
	}{
		{name: "empty entries with two-policy-behavior", rules: scalingRules(10, 60, 100, 60, 0), wantChange: 0, wantKept: []int32{5}},
		{name: "one outdated entry to be replaced with behavior", prev: []scaleEvent{{7, t0.Add(-61 * time.Second)}}, rules: scalingRules(10, 60, 100, 60, 0), wantChange: 0, wantKept: []int32{5}},
		{name: "one actual entry to be not touched with behavior", prev: []scaleEvent{{7, t0.Add(-58 * time.Second)}}, rules: scalingRules(10, 60, 100, 60, 0), wantChange: 7, wantKept: []int32{7, 5}},
		{name: "two entries, one of them to be replaced", prev: []scaleEvent{{7, t0.Add(-61 * time.Second)}, {6, t0.Add(-59 * time.Second)}}, rules: scalingRules(10, 60, 0, 0, 0), wantChange: 6, wantKept: []int32{6, 5}},
		{name: "replace one entry, use policies with different periods", prev: []scaleEvent{{8, t0.Add(-29 * time.Second)}, {6, t0.Add(-59 * time.Second)}, {7, t0.Add(-61 * time.Second)}, {9, t0.Add(-61 * time.Second)}}, rules: scalingRules(10, 60, 100, 30, 0), wantChange: 14, wantKept: []int32{8, 6, 5}},
		{name: "two entries, both actual", prev: []scaleEvent{{7, t0.Add(-58 * time.Second)}, {6, t0.Add(-59 * time.Second)}}, rules: scalingRules(10, 120, 100, 30, 0), wantChange: 13, wantKept: []int32{7, 6, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, dir := range []string{"up", "down"} {
				a := &Autoscaler{}
				events, to := &a.scaleUpEvents, int32(15)
				if dir == "down" {
					events, to = &a.scaleDownEvents, 5
				}
				*events = slices.Clone(tc.prev)
				if got := changeInPeriod(60, *events, t0); got != tc.wantChange {
					t.Errorf("%s: change over 60s = %d, want %d", dir, got, tc.wantChange)
				}
				a.Scaled(10, to, t0)
				*events = pruneEvents(*events, longestPeriod(tc.rules), t0)
				var kept []int32
				for _, e := range *events {
					kept = append(kept, e.replicaChange)
				}
				if !slices.Equal(kept, tc.wantKept) {
					t.Errorf("%s: events = %v, want %v", dir, kept, tc.wantKept)
				}
			}
		})
	}
}

// TestSteadyHistoryStaysShort: a run of equal recommendations is kept as its newest entry,
// which changes no window's minimum or maximum.
func TestSteadyHistoryStaysShort(t *testing.T) {
	up, down := defaultedBehavior(nil, nil)
	a := &Autoscaler{recommendations: []timestampedRecommendation{}}
	current := int32(4)
	for i := 0; i < 600; i++ {
		rec := int32(4)
		if i == 100 {
			rec = 9
		}
		got, _, _ := a.stabilize(rec, current, up, down, t0.Add(time.Duration(i)*time.Second))
		// The 9 of second 100 holds the count up for the 300 s scale-down window.
		want := int32(4)
		if i >= 100 && i < 400 {
			want = 9
		}
		if got != want {
			t.Fatalf("second %d: stabilized = %d, want %d", i, got, want)
		}
		current = got
	}
	if len(a.recommendations) > 3 {
		t.Errorf("history holds %d entries after a steady run, want at most 3", len(a.recommendations))
	}
}
