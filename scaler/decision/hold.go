package decision

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// scaleDownRules returns the scale-down rules this tick stabilizes with: the policy's, or, with
// spec.scaleDownHold and a start time measured, the same rules with the window cut to that many
// start times, never below the stable window nor above the policy's own window. A pod taken
// away and needed again is missing for one start time, so a target whose pods start in
// seconds need not hold a peak for HPA's five minutes; one whose pods take a minute still does.
// hold describes the cut for the decision's reason; "" when there is none.
func (a *Autoscaler) scaleDownRules(spec *v1alpha1.AutoscalingPolicySpec, stableWindow time.Duration) (down *v1alpha1.ScalingRules, hold string) {
	down = spec.Behavior.ScaleDown
	a.holdWindow = 0
	h := spec.ScaleDownHold
	if h == nil || h.StartDelays < 1 || a.startDelay <= 0 {
		return down, ""
	}
	backoff := max(a.holdBackoff, 1)
	w := max(stableWindow, time.Duration(h.StartDelays)*a.startDelay) * time.Duration(backoff)
	w = w.Truncate(time.Second)
	// Held at the policy's window, the backoff still learns, so that it can come down again.
	a.holdWindow = min(w, windowOf(down))
	if w >= windowOf(down) {
		return down, ""
	}
	cut := *down
	secs := int32(w / time.Second)
	cut.StabilizationWindowSeconds = &secs
	hold = fmt.Sprintf("scaleDownHold: %d× the pods' %s start", h.StartDelays, formatWindow(a.startDelay.Round(time.Second)))
	if backoff > 1 {
		hold += fmt.Sprintf(", ×%d after scale-downs taken back", backoff)
	}
	return &cut, hold
}

// holdScaled adjusts the hold's backoff to a change the caller made: a scale-up within the
// hold of the last scale-down, to no more than the count before it, takes that scale-down back
// (the hold was shorter than the load's noise: a steady load would flap between two counts
// every hold), so the next hold doubles, up to the policy's own window; a scale-up past that
// count is a load that rose, not noise. A scale-down that stood a whole hold halves it again.
func (a *Autoscaler) holdScaled(from, to int32, now time.Time) {
	if a.holdWindow <= 0 {
		return
	}
	switch {
	case to > from && to <= a.lastScaleDownFrom && !a.lastScaleDown.IsZero() && now.Sub(a.lastScaleDown) < a.holdWindow:
		a.holdBackoff = min(max(a.holdBackoff, 1)*2, maxHoldBackoff)
	case to < from && a.holdBackoff > 1 && !a.lastScaleDown.IsZero() && a.lastScaleUp.Before(a.lastScaleDown) &&
		now.Sub(a.lastScaleDown) >= a.holdWindow:
		a.holdBackoff /= 2
	}
}

// maxHoldBackoff bounds the doubling; the policy's window bounds the hold anyway.
const maxHoldBackoff = 64

// observeStartTime remembers the start time, creation to Ready, of the latest pod to become
// Ready; pods without both times teach nothing.
func (a *Autoscaler) observeStartTime(pods []Pod) {
	for i := range pods {
		p := &pods[i]
		if p.Ready != corev1.ConditionTrue || p.Created.IsZero() || !p.ReadyTransition.After(a.startDelayAt) {
			continue
		}
		if d := p.ReadyTransition.Sub(p.Created); d > 0 {
			a.startDelay, a.startDelayAt = d, p.ReadyTransition
		}
	}
}
