package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of AutoscalingPolicyStatus: HPA's three, and Ready.
const (
	// AbleToScale says whether the target's /scale can be read and written
	// and no rule (another autoscaler, unschedulable pods) holds it.
	AbleToScale = "AbleToScale"
	// ScalingActive says whether the metrics could be computed.
	ScalingActive = "ScalingActive"
	// ScalingLimited says whether min/max or a behavior rule bounded the
	// last decision.
	ScalingLimited = "ScalingLimited"
)

// Ready summarises the other conditions, so that kubectl wait, Argo CD and Flux
// can tell whether a policy works: True while the scaler decides for the target
// (also paused or recommend-only, as asked), Unknown until the first decision
// and while the report windows fill, False with the reason of the failing
// condition otherwise.
const Ready = "Ready"

// Annotations of an AutoscalingPolicy that change what the scaler does.
const (
	// PausedAnnotation "true" stops scaling: the target's replicas are left as
	// they are and the policy's status says so.
	PausedAnnotation = "inferscale.io/paused"
	// RecommendOnlyAnnotation "true" decides as usual but writes nothing: the
	// status shows the replica count and reason it would have written.
	RecommendOnlyAnnotation = "inferscale.io/recommend-only"
)

// Reasons of the conditions, by condition. docs/conditions.md says what each
// means and what to do about it.
const (
	// AbleToScale True.
	ReasonSucceededGetScale   = "SucceededGetScale"
	ReasonReadyForNewScale    = "ReadyForNewScale"
	ReasonScaleUpStabilized   = "ScaleUpStabilized"
	ReasonScaleDownStabilized = "ScaleDownStabilized"
	ReasonBurstMode           = "BurstMode"
	ReasonRecommendOnly       = "RecommendOnly"
	// AbleToScale False.
	ReasonFailedGetScale    = "FailedGetScale"
	ReasonFailedUpdateScale = "FailedUpdateScale"
	ReasonHPAConflict       = "HorizontalPodAutoscalerConflict"
	ReasonPodsUnschedulable = "PodsUnschedulable"
	ReasonAmbiguousPolicies = "AmbiguousPolicies"
	ReasonPaused            = "Paused"
	// ReasonSeldonReplicasOverridden: the target is a SeldonDeployment one of whose predictors
	// or componentSpecs sets its own replicas, which Seldon's operator prefers to spec.replicas
	// (the field its /scale writes), so the scaler does not write.
	ReasonSeldonReplicasOverridden = "SeldonReplicasOverridden"

	// ScalingActive True.
	ReasonValidMetricFound = "ValidMetricFound"
	// ScalingActive False.
	ReasonInvalidPolicy           = "InvalidPolicy"
	ReasonFailedListPods          = "FailedListPods"
	ReasonFailedGetResourceMetric = "FailedGetResourceMetric"
	ReasonFailedGetAgentMetric    = "FailedGetAgentMetric"
	ReasonInvalidMetricSourceType = "InvalidMetricSourceType"
	ReasonScalingDisabled         = "ScalingDisabled"
	ReasonIncompleteWindow        = "IncompleteWindow"
	// ReasonGPUUnattributed: an agent read more GPUs than its pod requests and cannot tell
	// which are the pod's, so a GPU metric is not scaled on.
	ReasonGPUUnattributed = "GPUUnattributed"
	// ReasonFailedGetModelMetric: no pod's agent reports a ModelMetric's gauge; the message
	// names the gauge, the pods and why (not exported, not scraped, the scrape fails).
	ReasonFailedGetModelMetric = "FailedGetModelMetric"

	// ScalingLimited True.
	ReasonTooManyReplicas = "TooManyReplicas"
	ReasonTooFewReplicas  = "TooFewReplicas"
	ReasonScaleUpLimit    = "ScaleUpLimit"
	ReasonScaleDownLimit  = "ScaleDownLimit"
	// ScalingLimited False.
	ReasonDesiredWithinRange = "DesiredWithinRange"
	ReasonNotScaling         = "NotScaling"

	// Ready True: the scaler decides and writes /scale.
	ReasonScaling = "Scaling"
	// Ready Unknown: no decision yet.
	ReasonPending = "Pending"
)

// ReadyCondition is the Ready condition that the given AbleToScale and
// ScalingActive conditions amount to. Paused and RecommendOnly are Ready (the
// policy does what it was asked); IncompleteWindow is Unknown (the windows are
// filling after a start or failover); any other False is not Ready.
func ReadyCondition(conditions []metav1.Condition) metav1.Condition {
	var able, active *metav1.Condition
	for i := range conditions {
		switch conditions[i].Type {
		case AbleToScale:
			able = &conditions[i]
		case ScalingActive:
			active = &conditions[i]
		}
	}
	ready := func(status metav1.ConditionStatus, from *metav1.Condition) metav1.Condition {
		return metav1.Condition{Type: Ready, Status: status, Reason: from.Reason, Message: from.Message}
	}
	switch {
	case able != nil && able.Reason == ReasonPaused:
		return ready(metav1.ConditionTrue, able)
	case able != nil && able.Status == metav1.ConditionFalse:
		return ready(metav1.ConditionFalse, able)
	case active != nil && active.Status == metav1.ConditionFalse && active.Reason == ReasonIncompleteWindow:
		return ready(metav1.ConditionUnknown, active)
	case active != nil && active.Status == metav1.ConditionFalse:
		return ready(metav1.ConditionFalse, active)
	case able == nil || active == nil:
		return metav1.Condition{Type: Ready, Status: metav1.ConditionUnknown, Reason: ReasonPending, Message: "the scaler has not decided for this policy yet"}
	case able.Reason == ReasonRecommendOnly:
		return ready(metav1.ConditionTrue, able)
	}
	return metav1.Condition{Type: Ready, Status: metav1.ConditionTrue, Reason: ReasonScaling, Message: active.Message}
}
