package decision

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// conditions collects the three conditions of one decision; an empty Type is one not set.
type conditions struct {
	now                        time.Time
	ableToScale, active, limit metav1.Condition
}

func (c *conditions) slot(t string) *metav1.Condition {
	switch t {
	case v1alpha1.AbleToScale:
		return &c.ableToScale
	case v1alpha1.ScalingActive:
		return &c.active
	default:
		return &c.limit
	}
}

func (c *conditions) set(t string, status metav1.ConditionStatus, reason, message string) {
	*c.slot(t) = metav1.Condition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(c.now)}
}

func (c *conditions) setDefault(t string, status metav1.ConditionStatus, reason, message string) {
	if c.slot(t).Type == "" {
		c.set(t, status, reason, message)
	}
}

// fromMetrics sets ScalingActive as HPA's computeReplicasForMetrics does: False with the
// first invalid metric's reason when no metric is valid, True otherwise.
func (c *conditions) fromMetrics(invalid, total int, firstInvalid, driving *evaluation) {
	if invalid >= total {
		c.failed(firstInvalid)
		return
	}
	msg := "the autoscaler computed a replica count; no metric asks for more than the minimum"
	if driving != nil {
		msg = "the autoscaler was able to successfully calculate a replica count from " + driving.driving
	}
	c.set(v1alpha1.ScalingActive, metav1.ConditionTrue, v1alpha1.ReasonValidMetricFound, msg)
}

// failed sets ScalingActive=False for an invalid metric (nil: the spec has no metric).
func (c *conditions) failed(ev *evaluation) {
	if ev == nil {
		c.set(v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonInvalidMetricSourceType, "the policy has no metric")
		return
	}
	c.set(v1alpha1.ScalingActive, metav1.ConditionFalse, ev.failReason,
		"the autoscaler was unable to compute the replica count: "+ev.driving+": "+ev.err.Error())
}

// limited sets ScalingLimited from the outcome of the rate policies and bounds on want.
func (c *conditions) limited(l limit, want int32) {
	status := metav1.ConditionFalse
	if l.replicas != want {
		status = metav1.ConditionTrue
	}
	c.set(v1alpha1.ScalingLimited, status, l.reason, l.message)
}

// list returns AbleToScale, ScalingActive and ScalingLimited, filling any not set.
func (c *conditions) list() []metav1.Condition {
	c.setDefault(v1alpha1.AbleToScale, metav1.ConditionTrue, v1alpha1.ReasonSucceededGetScale, "the target's current scale was read")
	c.setDefault(v1alpha1.ScalingActive, metav1.ConditionTrue, v1alpha1.ReasonValidMetricFound, "the autoscaler computed a replica count")
	c.setDefault(v1alpha1.ScalingLimited, metav1.ConditionFalse, v1alpha1.ReasonDesiredWithinRange, "the desired count is within the acceptable range")
	return []metav1.Condition{c.ableToScale, c.active, c.limit}
}
