package decision

import (
	"time"
)

// Autoscaler holds what one policy's decisions remember from tick to tick. The zero value is
// ready to use; the caller keeps one per policy and passes every tick's input to Decide.
type Autoscaler struct {
	// recommendations are the unstabilized recommendations of recent ticks (HPA's
	// a.recommendations[key]); nil until the first decision.
	recommendations []timestampedRecommendation
	// scaleUpEvents and scaleDownEvents are the changes the caller made (HPA's
	// a.scaleUpEvents / a.scaleDownEvents).
	scaleUpEvents, scaleDownEvents []scaleEvent

	// burstLast is the last tick the burst threshold was crossed; zero outside burst mode.
	burstLast time.Time
	// burstPeak is the largest recommendation since burst mode began (Knative's maxPanicPods).
	burstPeak int32
}

type timestampedRecommendation struct {
	recommendation int32
	timestamp      time.Time
}

type scaleEvent struct {
	replicaChange int32 // always positive: pods added for an up event, removed for a down one
	timestamp     time.Time
}

// Scaled records that the caller changed the target from `from` to `to` replicas at now. Call
// it once the /scale write succeeded (HPA's storeScaleEvent): rate policies count only changes
// that happened.
func (a *Autoscaler) Scaled(from, to int32, now time.Time) {
	switch {
	case to > from:
		a.scaleUpEvents = append(a.scaleUpEvents, scaleEvent{to - from, now})
	case to < from:
		a.scaleDownEvents = append(a.scaleDownEvents, scaleEvent{from - to, now})
	}
}

// Decide computes the decision for in at now and updates the Autoscaler's history.
func (a *Autoscaler) Decide(in *Input, now time.Time) Decision {
	return Decision{CurrentReplicas: in.CurrentReplicas, DesiredReplicas: in.CurrentReplicas, Hold: true}
}
