package controller

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
)

// maxTargetsLen bounds status.targets, a printer column.
const maxTargetsLen = 120

// targetsSummary is status.targets: each metric's observed value against its
// target, as `kubectl get asp` shows it, e.g. "p99 812ms/500ms, queue 3/4".
func targetsSummary(metrics []v1alpha1.MetricStatus) string {
	var b strings.Builder
	for i, m := range metrics {
		current, _, _ := strings.Cut(m.Current, " ")
		if current == "" {
			current = "<unknown>"
		}
		part := targetLabel(m) + " " + current + "/" + m.Target
		if i > 0 {
			part = ", " + part
		}
		if b.Len()+len(part) > maxTargetsLen {
			b.WriteString(", …")
			break
		}
		b.WriteString(part)
	}
	return b.String()
}

func targetLabel(m v1alpha1.MetricStatus) string {
	switch m.Type {
	case v1alpha1.QueueDepthMetricType:
		return "queue"
	case v1alpha1.RequestRateMetricType:
		return "rate"
	case v1alpha1.GPUMetricType:
		if m.Name == "" || m.Name == string(v1alpha1.GPUUtilization) {
			return "gpu"
		}
		return "gpu " + m.Name
	}
	if m.Name != "" {
		return m.Name
	}
	return string(m.Type)
}

// annotationOn reads a "true"/"false" annotation; validation refuses other values.
func annotationOn(p *v1alpha1.AutoscalingPolicy, key string) bool {
	return p.Annotations[key] == "true"
}

func pausedCondition() *metav1.Condition {
	return &metav1.Condition{Type: v1alpha1.AbleToScale, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonPaused,
		Message: "paused by the annotation " + v1alpha1.PausedAnnotation + `: "true"; the target's replicas are left as they are`}
}

func recommendCondition(d *decision.Decision) *metav1.Condition {
	return &metav1.Condition{Type: v1alpha1.AbleToScale, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRecommendOnly,
		Message: fmt.Sprintf("recommend-only (annotation %s): would scale %d → %d: %s; /scale is not written",
			v1alpha1.RecommendOnlyAnnotation, d.CurrentReplicas, d.DesiredReplicas, d.Reason)}
}

// setReady sets the Ready condition from the others.
func setReady(s *v1alpha1.AutoscalingPolicyStatus, generation int64, now time.Time) {
	ready := v1alpha1.ReadyCondition(s.Conditions)
	ready.ObservedGeneration = generation
	ready.LastTransitionTime = metav1.NewTime(now)
	apimeta.SetStatusCondition(&s.Conditions, ready)
}

// Holds shorter than these are routine: a scale-down waits for data after a
// restart for a stable window anyway.
const (
	holdEventAfter  = 30 * time.Second
	holdEventRepeat = 10 * time.Minute
)

// holdTracker turns a hold that lasts into one Warning Event, repeated while it
// lasts, and a Normal one when it ends: not an Event per tick.
type holdTracker struct {
	reason  string
	since   time.Time
	emitted time.Time // zero until this hold's first Event
}

// holdEvent is an Event to emit; Type is empty for none.
type holdEvent struct {
	Type, Reason, Note string
}

// heldBy returns the reason and message of the condition that holds the
// target, or "": a False AbleToScale or ScalingActive.
func heldBy(conds []metav1.Condition) (string, string) {
	for _, t := range []string{v1alpha1.AbleToScale, v1alpha1.ScalingActive} {
		if c := apimeta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionFalse && c.Reason != v1alpha1.ReasonPaused {
			return c.Reason, c.Message
		}
	}
	return "", ""
}

// observe takes the hold of this tick ("" for none) and returns the Event due.
// An incomplete window is expected for a stable window after a start, so it is
// only reported once it lasts a stable window longer.
func (h *holdTracker) observe(reason, message string, stable time.Duration, now time.Time) holdEvent {
	if reason != h.reason {
		var ev holdEvent
		if h.reason != "" && !h.emitted.IsZero() {
			ev = holdEvent{corev1.EventTypeNormal, "HoldEnded", fmt.Sprintf("%s ended after %s", h.reason, now.Sub(h.since).Round(time.Second))}
		}
		*h = holdTracker{reason: reason, since: now}
		return ev
	}
	if reason == "" {
		return holdEvent{}
	}
	after := holdEventAfter
	if reason == v1alpha1.ReasonIncompleteWindow {
		after += stable
	}
	held := now.Sub(h.since)
	if held < after || (!h.emitted.IsZero() && now.Sub(h.emitted) < holdEventRepeat) {
		return holdEvent{}
	}
	h.emitted = now
	return holdEvent{corev1.EventTypeWarning, reason, fmt.Sprintf("held for %s: %s", held.Round(time.Second), message)}
}

// recordHold emits the Event a lasting hold is due.
func (c *Controller) recordHold(p *v1alpha1.AutoscalingPolicy, st *policyState, d *decision.Decision, spec *v1alpha1.AutoscalingPolicySpec, now time.Time) {
	reason, msg := heldBy(d.Conditions)
	stable := time.Duration(*spec.StableWindowSeconds) * time.Second
	if ev := st.holds.observe(reason, msg, stable, now); ev.Type != "" {
		c.opts.Events.Eventf(p, nil, ev.Type, ev.Reason, "Hold", "%s", ev.Note)
	}
}

// recommend announces, in recommend-only mode, a count the policy would write,
// once per change, and returns the AbleToScale condition that says so; nil
// when the decision holds for a reason of its own (unschedulable pods), which
// then stays visible.
func (c *Controller) recommend(p *v1alpha1.AutoscalingPolicy, st *policyState, d *decision.Decision) *metav1.Condition {
	if d.DesiredReplicas != d.CurrentReplicas && d.DesiredReplicas != st.recommended {
		c.opts.Events.Eventf(p, nil, corev1.EventTypeNormal, "Recommendation", "Recommend",
			"would scale to %d (recommend-only); reason: %s", d.DesiredReplicas, d.Reason)
	}
	st.recommended = d.DesiredReplicas
	if able := apimeta.FindStatusCondition(d.Conditions, v1alpha1.AbleToScale); able != nil && able.Status == metav1.ConditionFalse {
		return nil
	}
	return recommendCondition(d)
}
