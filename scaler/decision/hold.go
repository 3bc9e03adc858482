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
	a.holdWindow, a.flapWindow = 0, 0
	h := spec.ScaleDownHold
	if h == nil || h.StartDelays < 1 || a.startDelay <= 0 {
		return down, ""
	}
	policy := windowOf(down)
	if a.startDelay >= policy {
		// Also keeps the products below from overflowing on an absurd start time.
		a.holdWindow, a.flapWindow = policy, policy
		return down, ""
	}
	w := max(stableWindow, time.Duration(min(h.StartDelays, maxHoldStartDelays))*a.startDelay).Truncate(time.Second)
	a.holdWindow = min(w, policy)
	a.flapWindow = min(w*time.Duration(max(a.holdBackoff, 1)), policy)
	if w >= policy {
		return down, ""
	}
	cut := *down
	secs := int32(w / time.Second)
	cut.StabilizationWindowSeconds = &secs
	return &cut, fmt.Sprintf("scaleDownHold: %d× the pods' %s start", h.StartDelays, formatWindow(a.startDelay.Round(time.Second)))
}

// holdFlap keeps a scale-down that the hold allows above the count a scale-down was taken back
// from (see holdScaled) until no recommendation has been above that count for the backed-off
// hold: a steady noisy load would otherwise flap there every hold. Scale-downs that end above
// that count, such as a spike's, keep the shorter hold. demand is this tick's largest demand
// of any metric, before tolerances and the latency guard, which hold a count up without any
// load above it; held is the count to go to, with its reason when it holds.
func (a *Autoscaler) holdFlap(demand, stabilized, cur int32, now time.Time) (held int32, reason string) {
	if a.flapWindow <= 0 || a.holdBackoff <= 1 {
		return stabilized, ""
	}
	if demand > a.flapAt {
		a.aboveFlap = now
	}
	if stabilized >= cur || stabilized > a.flapAt || !now.Before(a.aboveFlap.Add(a.flapWindow)) {
		return stabilized, ""
	}
	held = min(a.flapAt+1, cur)
	return held, fmt.Sprintf("a scale-down to %d was taken back: held at %d until %s pass without a recommendation above %d",
		a.flapAt, held, formatWindow(a.flapWindow), a.flapAt)
}

// holdScaled learns from a change the caller made. A scale-up within the hold of the last
// scale-down, to no more than the count before it, took that scale-down back: the hold was
// shorter than the load's noise, so scale-downs to that count wait twice as long from now on,
// up to the policy's own window (a scale-up past that count is a load that rose, not noise).
// A scale-down that stood its whole hold halves the wait again.
func (a *Autoscaler) holdScaled(from, to int32, now time.Time) {
	if a.holdWindow <= 0 {
		return
	}
	switch {
	case to > from && to <= a.lastScaleDownFrom && !a.lastScaleDown.IsZero() && now.Sub(a.lastScaleDown) < a.lastScaleDownHold:
		a.holdBackoff = min(max(a.holdBackoff, 1)*2, maxHoldBackoff)
		a.flapAt, a.aboveFlap = from, now
	case to < from:
		if a.holdBackoff > 1 && !a.lastScaleDown.IsZero() && a.lastScaleUp.Before(a.lastScaleDown) &&
			now.Sub(a.lastScaleDown) >= a.lastScaleDownHold {
			a.holdBackoff /= 2
		}
		a.lastScaleDownHold = a.holdWindow
		if a.holdBackoff > 1 && to <= a.flapAt {
			a.lastScaleDownHold = a.flapWindow
		}
	}
}

// maxHoldBackoff bounds the doubling; the policy's window bounds the hold anyway.
const maxHoldBackoff = 64

// maxHoldStartDelays is the API's bound on spec.scaleDownHold.startDelays, held here too for a
// spec that did not pass validation.
const maxHoldStartDelays = 100

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
