package budget

import (
	"fmt"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// Decided is what Request needs of one policy's decision.
type Decided struct {
	// Current is the target's replica count; Desired the decision's (rules 2 and 3 applied:
	// behavior, min/max, the unschedulable guard).
	Current, Desired int32
	// Burst is true while burst mode holds.
	Burst bool
	// Unschedulable is true while a pod of the target is unschedulable.
	Unschedulable bool
	// Hold is true when a safety rule of the decision held the count (no usable metric, a
	// window not yet full, ...): the demand is unknown.
	Hold bool
	// Spare is the headroom of the last grant: the spare replicas Current includes.
	Spare int32
}

// Request returns what a policy asks of its budgets: the decision's count as the demand and
// the headroom above it (rule 4), with a note saying why the headroom is less than the spec
// asks ("" when it is not). spec must be defaulted.
//
// The headroom is the larger of spec.headroom.percent of the demand (rounded up) and
// spec.headroom.replicas, within maxReplicas. While a pod is unschedulable, or burst mode
// lasts, or the decision holds the count for want of data, no new headroom replica is asked for: the ones running are kept, so a burst is
// served by them first and a pending pod is not joined by more.
//
// A decision that keeps the count (Desired == Current) keeps the spare replicas spare: the
// demand is then Current − Spare, so headroom never feeds on itself.
func Request(spec *v1alpha1.AutoscalingPolicySpec, d Decided) (demand, headroom int32, note string) {
	demand = d.Desired
	if demand == d.Current && d.Spare > 0 {
		demand = max(d.Current-d.Spare, *spec.MinReplicas)
	}
	h := spec.Headroom
	if h == nil {
		return demand, 0, ""
	}
	var want int32
	if h.Percent != nil && *h.Percent > 0 {
		want = int32((int64(demand)*int64(*h.Percent) + 99) / 100)
	}
	if h.Replicas != nil {
		want = max(want, *h.Replicas)
	}
	headroom = min(want, max(spec.MaxReplicas-demand, 0))
	if headroom < want {
		note = fmt.Sprintf("headroom %d of %d: limited by maxReplicas %d", headroom, want, spec.MaxReplicas)
	}
	if running := max(d.Current-demand, 0); headroom > running {
		switch {
		case d.Unschedulable:
			headroom, note = running, fmt.Sprintf("headroom %d of %d: no new spare replica while a pod is unschedulable", running, want)
		case d.Hold:
			headroom, note = running, fmt.Sprintf("headroom %d of %d: no new spare replica while the decision holds the count", running, want)
		case d.Burst:
			headroom, note = running, fmt.Sprintf("headroom %d of %d: burst mode uses the spare replicas before adding new ones", running, want)
		}
	}
	return demand, headroom, note
}
