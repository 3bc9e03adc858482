package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// Defaults of the fields a policy may omit. Where HPA has a default, it is HPA's.
const (
	DefaultMinReplicas                  int32 = 1
	DefaultStableWindowSeconds          int32 = 60
	DefaultBurstThresholdPercent        int32 = 200
	DefaultBurstWindowSeconds           int32 = 6
	DefaultLatencyMinRequests           int32 = 20
	DefaultScaleUpStabilizationSeconds  int32 = 0
	DefaultScaleDownStabilizationSecond int32 = 300
	DefaultPriority                     int32 = 0
)

// DefaultMaxReplicasCeiling is the default cluster-wide ceiling of spec.maxReplicas
// (--max-replicas-ceiling of the webhook and of the scaler): the webhook refuses a policy
// above it and the scaler never asks for more replicas, whatever a policy admitted under a
// higher ceiling says.
const DefaultMaxReplicasCeiling int32 = 1000

// DefaultTolerance is HPA's default tolerance: no scaling while the ratio of
// observed to target stays within 10%.
var DefaultTolerance = resource.MustParse("0.1")

// DefaultScaleUpRules returns HPA's scale-up rules: no stabilization, the
// larger of +100% and +4 pods every 15 s.
func DefaultScaleUpRules() *ScalingRules {
	return &ScalingRules{
		StabilizationWindowSeconds: ptr.To(DefaultScaleUpStabilizationSeconds),
		SelectPolicy:               ptr.To(MaxChangePolicySelect),
		Policies: []ScalingPolicy{
			{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			{Type: PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		},
		Tolerance: ptr.To(DefaultTolerance.DeepCopy()),
	}
}

// DefaultScaleDownRules returns HPA's scale-down rules: a 300 s stabilization
// window, then down to -100% every 15 s.
func DefaultScaleDownRules() *ScalingRules {
	return &ScalingRules{
		StabilizationWindowSeconds: ptr.To(DefaultScaleDownStabilizationSecond),
		SelectPolicy:               ptr.To(MaxChangePolicySelect),
		Policies:                   []ScalingPolicy{{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
		Tolerance:                  ptr.To(DefaultTolerance.DeepCopy()),
	}
}

// Defaulted returns a copy of the spec with every omitted field set to its
// default, so consumers never have to guess what nil means.
func (s *AutoscalingPolicySpec) Defaulted() *AutoscalingPolicySpec {
	out := s.DeepCopy()
	if out.MinReplicas == nil {
		out.MinReplicas = ptr.To(DefaultMinReplicas)
	}
	if out.StableWindowSeconds == nil {
		out.StableWindowSeconds = ptr.To(DefaultStableWindowSeconds)
	}
	if out.Burst == nil {
		out.Burst = &BurstSpec{}
	}
	if out.Burst.Threshold == nil {
		out.Burst.Threshold = ptr.To(DefaultBurstThresholdPercent)
	}
	if out.Priority == nil {
		out.Priority = ptr.To(DefaultPriority)
	}
	if out.Burst.WindowSeconds == nil {
		out.Burst.WindowSeconds = ptr.To(DefaultBurstWindowSeconds)
	}
	for i := range out.Metrics {
		m := &out.Metrics[i]
		if m.Latency != nil && m.Latency.MinRequests == nil {
			m.Latency.MinRequests = ptr.To(DefaultLatencyMinRequests)
		}
		if m.GPU != nil && m.GPU.Metric == "" {
			m.GPU.Metric = GPUUtilization
		}
	}
	if out.Behavior == nil {
		out.Behavior = &Behavior{}
	}
	out.Behavior.ScaleUp = defaultRules(out.Behavior.ScaleUp, DefaultScaleUpRules())
	out.Behavior.ScaleDown = defaultRules(out.Behavior.ScaleDown, DefaultScaleDownRules())
	return out
}

// defaultRules fills the omitted fields of rules field by field, as HPA's
// GenerateHPAScaleUpRules does: a policy list is taken whole or not at all.
func defaultRules(rules, def *ScalingRules) *ScalingRules {
	if rules == nil {
		return def
	}
	if rules.StabilizationWindowSeconds == nil {
		rules.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if rules.SelectPolicy == nil {
		rules.SelectPolicy = def.SelectPolicy
	}
	if len(rules.Policies) == 0 {
		rules.Policies = def.Policies
	}
	if rules.Tolerance == nil {
		rules.Tolerance = def.Tolerance
	}
	return rules
}
