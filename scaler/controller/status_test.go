package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func TestTargetsSummary(t *testing.T) {
	cases := []struct {
		name    string
		metrics []v1alpha1.MetricStatus
		want    string
	}{
		{"none", nil, ""},
		{"latency and queue", []v1alpha1.MetricStatus{
			{Type: v1alpha1.LatencyMetricType, Name: "p99", Current: "812ms", Target: "500ms"},
			{Type: v1alpha1.QueueDepthMetricType, Current: "3", Target: "4"},
		}, "p99 812ms/500ms, queue 3/4"},
		{"no data yet", []v1alpha1.MetricStatus{{Type: v1alpha1.RequestRateMetricType, Target: "20"}}, "rate <unknown>/20"},
		{"details after the value are left out", []v1alpha1.MetricStatus{
			{Type: v1alpha1.ResourceMetricType, Name: "cpu", Current: "62% (310m/replica)", Target: "70%"},
			{Type: v1alpha1.GPUMetricType, Name: "utilization", Current: "40", Target: "80%"},
			{Type: v1alpha1.GPUMetricType, Name: "memoryUtilization", Current: "10", Target: "90%"},
			{Type: v1alpha1.ModelMetricType, Name: "vllm:num_requests_waiting", Current: "1", Target: "5"},
		}, "cpu 62%/70%, gpu 40/80%, gpu memoryUtilization 10/90%, vllm:num_requests_waiting 1/5"},
	}
	for _, tc := range cases {
		if got := targetsSummary(tc.metrics); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	var many []v1alpha1.MetricStatus
	for range 16 {
		many = append(many, v1alpha1.MetricStatus{Type: v1alpha1.ModelMetricType, Name: "vllm:num_requests_waiting", Current: "1", Target: "5"})
	}
	if got := targetsSummary(many); len(got) > maxTargetsLen+len(", …") || !strings.HasSuffix(got, ", …") {
		t.Errorf("16 metrics: %d bytes %q", len(got), got)
	}
}

// loaded is a fixture whose two pods report 10 in flight for a target of 5: the policy wants 4.
func loaded(t *testing.T, p *v1alpha1.AutoscalingPolicy) *fixture {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, p, readyPod("a", now), readyPod("b", now))
	f.tick()
	for range 3 {
		f.clock.Step(time.Second)
		f.report("a", 10)
		f.report("b", 10)
	}
	return f
}

func condition(t *testing.T, p *v1alpha1.AutoscalingPolicy, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(p.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, p.Status.Conditions)
	}
	return *c
}

func TestReadyAndTargetsOfAScalingPolicy(t *testing.T) {
	f := loaded(t, queuePolicy("llama", time.Unix(1_800_000_000, 0)))
	f.tick()
	p := f.policy("llama")
	if r := condition(t, p, v1alpha1.Ready); r.Status != metav1.ConditionTrue || r.Reason != v1alpha1.ReasonScaling || r.ObservedGeneration != 2 {
		t.Errorf("Ready = %+v", r)
	}
	if p.Status.Targets != "queue 10/5" {
		t.Errorf("targets = %q", p.Status.Targets)
	}
}

func TestPausedPolicyWritesNothing(t *testing.T) {
	p := queuePolicy("llama", time.Unix(1_800_000_000, 0))
	p.Annotations = map[string]string{v1alpha1.PausedAnnotation: "true"}
	f := loaded(t, p)
	f.tick()
	if len(f.updates) != 0 || len(drain(f.events)) != 0 {
		t.Fatalf("a paused policy scaled: %v", f.updates)
	}
	got := f.policy("llama")
	if a := condition(t, got, v1alpha1.AbleToScale); a.Status != metav1.ConditionFalse || a.Reason != v1alpha1.ReasonPaused {
		t.Errorf("AbleToScale = %+v", a)
	}
	if r := condition(t, got, v1alpha1.Ready); r.Status != metav1.ConditionTrue || r.Reason != v1alpha1.ReasonPaused {
		t.Errorf("Ready = %+v", r)
	}

	// Unpaused, the reports gathered meanwhile count at once.
	delete(got.Annotations, v1alpha1.PausedAnnotation)
	if err := f.client.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if len(f.updates) != 1 || f.updates[0] != 4 {
		t.Errorf("after unpausing: /scale writes %v, want [4]", f.updates)
	}
}

func TestRecommendOnlyShowsWhatItWouldDo(t *testing.T) {
	p := queuePolicy("llama", time.Unix(1_800_000_000, 0))
	p.Annotations = map[string]string{v1alpha1.RecommendOnlyAnnotation: "true"}
	f := loaded(t, p)
	f.tick()
	if len(f.updates) != 0 {
		t.Fatalf("recommend-only wrote /scale: %v", f.updates)
	}
	got := f.policy("llama")
	if got.Status.DesiredReplicas != 4 || got.Status.CurrentReplicas != 2 || got.Status.LastScaleTime != nil {
		t.Errorf("status desired %d current %d lastScaleTime %v", got.Status.DesiredReplicas, got.Status.CurrentReplicas, got.Status.LastScaleTime)
	}
	a := condition(t, got, v1alpha1.AbleToScale)
	if a.Reason != v1alpha1.ReasonRecommendOnly || !strings.Contains(a.Message, "would scale 2 → 4") {
		t.Errorf("AbleToScale = %+v", a)
	}
	if r := condition(t, got, v1alpha1.Ready); r.Status != metav1.ConditionTrue || r.Reason != v1alpha1.ReasonRecommendOnly {
		t.Errorf("Ready = %+v", r)
	}
	evs := drain(f.events)
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Normal Recommendation would scale to 4") {
		t.Errorf("events %q, want one Recommendation", evs)
	}
	f.clock.Step(time.Second)
	f.report("a", 10)
	f.report("b", 10)
	f.tick()
	if evs := drain(f.events); len(evs) != 0 || len(f.updates) != 0 {
		t.Errorf("the same recommendation again: events %q, writes %v", evs, f.updates)
	}
}

func TestLastingHoldsEmitOneEvent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hpa := hpaOnLlama()
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now), hpa)
	f.tick() // configures the store
	var events []string
	for range 45 {
		f.report("a", 10)
		f.report("b", 10)
		f.tick()
		events = append(events, drain(f.events)...)
		f.clock.Step(time.Second)
	}
	if len(events) != 1 || !strings.HasPrefix(events[0], "Warning HorizontalPodAutoscalerConflict held for 30s") || !strings.Contains(events[0], "old-hpa") {
		t.Fatalf("events over 45 s of an HPA conflict: %q, want one Warning after 30 s", events)
	}
	if r := condition(t, f.policy("llama"), v1alpha1.Ready); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ReasonHPAConflict {
		t.Errorf("Ready = %+v", r)
	}
	if err := f.client.Delete(context.Background(), hpa); err != nil {
		t.Fatal(err)
	}
	f.report("a", 10)
	f.report("b", 10)
	f.tick()
	if evs := drain(f.events); len(evs) < 1 || !strings.HasPrefix(evs[0], "Normal HoldEnded HorizontalPodAutoscalerConflict ended after 45s") {
		t.Errorf("events once the HPA is gone: %q", evs)
	}
}

func TestHoldTracker(t *testing.T) {
	start := time.Unix(0, 0)
	stable := time.Minute
	var h holdTracker
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		sec    int
		reason string
		want   string // Type Reason of the Event due, or ""
	}{
		{0, "", ""},
		{1, v1alpha1.ReasonIncompleteWindow, ""},
		{60, v1alpha1.ReasonIncompleteWindow, ""}, // routine after a start: a stable window + 30 s
		{92, v1alpha1.ReasonIncompleteWindow, "Warning IncompleteWindow"},
		{93, v1alpha1.ReasonIncompleteWindow, ""},
		{95, v1alpha1.ReasonPodsUnschedulable, "Normal HoldEnded"},
		{124, v1alpha1.ReasonPodsUnschedulable, ""},
		{125, v1alpha1.ReasonPodsUnschedulable, "Warning PodsUnschedulable"},
		{125 + 599, v1alpha1.ReasonPodsUnschedulable, ""},
		{125 + 600, v1alpha1.ReasonPodsUnschedulable, "Warning PodsUnschedulable"},
		{800, "", "Normal HoldEnded"},
		{801, v1alpha1.ReasonFailedGetAgentMetric, ""},
		{802, "", ""}, // a hold too short for an Event ends without one
	}
	for _, s := range steps {
		ev := h.observe(s.reason, "msg", stable, at(s.sec))
		got := strings.TrimSpace(ev.Type + " " + ev.Reason)
		if got != s.want {
			t.Errorf("at %ds with %q: event %q, want %q", s.sec, s.reason, got, s.want)
		}
	}
}

// In recommend-only mode nothing is written, so a policy shadows an HPA on its target.
func TestRecommendOnlyShadowsAnHPA(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := queuePolicy("llama", now)
	p.Annotations = map[string]string{v1alpha1.RecommendOnlyAnnotation: "true"}
	hpa := hpaOnLlama()
	f := newFixture(t, p, readyPod("a", now), readyPod("b", now), hpa)
	f.tick()
	for range 3 {
		f.clock.Step(time.Second)
		f.report("a", 10)
		f.report("b", 10)
	}
	f.tick()
	got := f.policy("llama")
	if len(f.updates) != 0 || got.Status.DesiredReplicas != 4 {
		t.Fatalf("writes %v, desired %d; want none and 4", f.updates, got.Status.DesiredReplicas)
	}
	if a := condition(t, got, v1alpha1.AbleToScale); a.Reason != v1alpha1.ReasonRecommendOnly {
		t.Errorf("AbleToScale = %+v", a)
	}
}

// hpaOnLlama is an HPA that scales the policies' target.
func hpaOnLlama() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "old-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
			MaxReplicas:    3,
		},
	}
}
