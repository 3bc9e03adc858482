package v1alpha1

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds shared by the validation and the CRD markers on the types.
const (
	maxStabilizationSeconds = 3600
	maxPolicyPeriodSeconds  = 1800
	minHoldStartDelays      = 1
	maxHoldStartDelays      = 100
	minStableWindowSeconds  = 6
	maxStableWindowSeconds  = 600
	minBurstThreshold       = 110
	maxBurstThreshold       = 1000
	maxBurstWindowSeconds   = 60
	maxMetricNameLength     = 253
)

// GPUResourceName is the extended resource name of NVIDIA GPUs; as a
// Resource metric it means the NVML utilization the agents report.
const GPUResourceName corev1.ResourceName = "nvidia.com/gpu"

// IsDevicePluginGPU reports whether resource name is one of the NVIDIA device plugin's: a
// whole GPU, or a MIG slice (nvidia.com/mig-1g.10gb, ...) under its mixed MIG strategy.
func IsDevicePluginGPU(name corev1.ResourceName) bool {
	return name == GPUResourceName || strings.HasPrefix(string(name), "nvidia.com/mig-")
}

var promMetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// ValidateAutoscalingPolicy returns every problem of the policy at once, each
// at the exact path of its field, as the validating webhook answers them.
func ValidateAutoscalingPolicy(p *AutoscalingPolicy) field.ErrorList {
	errs := validateModeAnnotations(p.Annotations, field.NewPath("metadata", "annotations"))
	return append(errs, ValidateSpec(&p.Spec, field.NewPath("spec"))...)
}

// validateModeAnnotations refuses a pause or recommend-only annotation that is
// neither "true" nor "false": a typo must not leave a policy scaling that its
// author meant to stop.
func validateModeAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, key := range []string{PausedAnnotation, RecommendOnlyAnnotation} {
		if v, ok := annotations[key]; ok && v != "true" && v != "false" {
			errs = append(errs, field.NotSupported(fldPath.Key(key), v, []string{"true", "false"}))
		}
	}
	return errs
}

// ValidateSpec validates a spec found at fldPath.
func ValidateSpec(s *AutoscalingPolicySpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateTarget(s, fldPath)...)

	if s.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("maxReplicas"), s.MaxReplicas, "must be at least 1"))
	}
	if s.MinReplicas != nil {
		switch {
		case *s.MinReplicas < 1:
			errs = append(errs, field.Invalid(fldPath.Child("minReplicas"), *s.MinReplicas, "must be at least 1: scale to zero is not supported"))
		case s.MaxReplicas >= 1 && *s.MinReplicas > s.MaxReplicas:
			errs = append(errs, field.Invalid(fldPath.Child("minReplicas"), *s.MinReplicas, fmt.Sprintf("must not exceed maxReplicas (%d)", s.MaxReplicas)))
		}
	}

	if len(s.Metrics) == 0 {
		errs = append(errs, field.Required(fldPath.Child("metrics"), "at least one metric is needed to scale on"))
	}
	for i := range s.Metrics {
		errs = append(errs, validateMetric(&s.Metrics[i], fldPath.Child("metrics").Index(i))...)
	}

	if s.Behavior != nil {
		errs = append(errs, validateRules(s.Behavior.ScaleUp, fldPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateRules(s.Behavior.ScaleDown, fldPath.Child("behavior", "scaleDown"))...)
	}

	stable := DefaultStableWindowSeconds
	if s.StableWindowSeconds != nil {
		stable = *s.StableWindowSeconds
		if stable < minStableWindowSeconds || stable > maxStableWindowSeconds {
			errs = append(errs, field.Invalid(fldPath.Child("stableWindowSeconds"), stable,
				fmt.Sprintf("must be between %d and %d", minStableWindowSeconds, maxStableWindowSeconds)))
		}
	}
	if s.Burst != nil {
		errs = append(errs, validateBurst(s.Burst, stable, fldPath.Child("burst"))...)
	}
	if h := s.ScaleDownHold; h != nil && (h.StartDelays < minHoldStartDelays || h.StartDelays > maxHoldStartDelays) {
		errs = append(errs, field.Invalid(fldPath.Child("scaleDownHold", "startDelays"), h.StartDelays,
			fmt.Sprintf("must be between %d and %d start times", minHoldStartDelays, maxHoldStartDelays)))
	}
	return append(errs, validateBudgeting(s, fldPath)...)
}

// validateTarget checks targetRef and its HPA name scaleTargetRef: one of them, or both
// alike.
func validateTarget(s *AutoscalingPolicySpec, fldPath *field.Path) field.ErrorList {
	var zero CrossVersionObjectReference
	switch {
	case s.TargetRef == zero && s.ScaleTargetRef == zero:
		return field.ErrorList{field.Required(fldPath.Child("targetRef"), "the workload to scale (HPA's name for it, scaleTargetRef, works too)")}
	case s.TargetRef == zero:
		return validateTargetRef(&s.ScaleTargetRef, fldPath.Child("scaleTargetRef"))
	case s.ScaleTargetRef != zero && s.ScaleTargetRef != s.TargetRef:
		return field.ErrorList{field.Invalid(fldPath.Child("scaleTargetRef"), s.ScaleTargetRef,
			fmt.Sprintf("differs from targetRef %s %s/%s: the two are one field under two names; set one, or both to the same target",
				s.TargetRef.APIVersion, s.TargetRef.Kind, s.TargetRef.Name))}
	}
	return validateTargetRef(&s.TargetRef, fldPath.Child("targetRef"))
}

func validateTargetRef(ref *CrossVersionObjectReference, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIVersion == "" {
		errs = append(errs, field.Required(fldPath.Child("apiVersion"), "the target's apiVersion, e.g. apps/v1"))
	} else if _, err := schema.ParseGroupVersion(ref.APIVersion); err != nil {
		errs = append(errs, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, err.Error()))
	}
	if ref.Kind == "" {
		errs = append(errs, field.Required(fldPath.Child("kind"), "the target's kind, e.g. Deployment"))
	} else if msgs := validation.IsDNS1035Label(strings.ToLower(ref.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(fldPath.Child("kind"), ref.Kind, strings.Join(msgs, "; ")))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), "the target's name"))
	} else if msgs := validation.IsDNS1123Subdomain(ref.Name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(fldPath.Child("name"), ref.Name, strings.Join(msgs, "; ")))
	}
	return errs
}

// metricBlocks lists the blocks of a metric by their JSON name, so a block
// that does not match the type can be named in the error.
func metricBlocks(m *MetricSpec) map[MetricType]struct {
	name string
	set  bool
} {
	type block = struct {
		name string
		set  bool
	}
	return map[MetricType]block{
		LatencyMetricType:     {"latency", m.Latency != nil},
		QueueDepthMetricType:  {"queueDepth", m.QueueDepth != nil},
		RequestRateMetricType: {"requestRate", m.RequestRate != nil},
		ModelMetricType:       {"modelMetric", m.ModelMetric != nil},
		GPUMetricType:         {"gpu", m.GPU != nil},
		ResourceMetricType:    {"resource", m.Resource != nil},
		PodsMetricType:        {"pods", m.Pods != nil},
		ObjectMetricType:      {"object", m.Object != nil},
		ExternalMetricType:    {"external", m.External != nil},
	}
}

var metricTypes = []MetricType{LatencyMetricType, QueueDepthMetricType, RequestRateMetricType, ModelMetricType, GPUMetricType, ResourceMetricType,
	PodsMetricType, ObjectMetricType, ExternalMetricType}

func validateMetric(m *MetricSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	blocks := metricBlocks(m)
	own, known := blocks[m.Type]
	if !known {
		names := make([]string, len(metricTypes))
		for i, t := range metricTypes {
			names[i] = string(t)
		}
		errs = append(errs, field.NotSupported(fldPath.Child("type"), m.Type, names))
	} else if !own.set {
		errs = append(errs, field.Required(fldPath.Child(own.name), fmt.Sprintf("must be set when type is %s", m.Type)))
	}
	for _, t := range metricTypes {
		if b := blocks[t]; known && b.set && t != m.Type {
			errs = append(errs, field.Forbidden(fldPath.Child(b.name), fmt.Sprintf("must not be set when type is %s", m.Type)))
		}
	}

	if m.Latency != nil {
		errs = append(errs, validateLatency(m.Latency, fldPath.Child("latency"))...)
	}
	if m.QueueDepth != nil {
		errs = append(errs, positive(m.QueueDepth.AverageValue, fldPath.Child("queueDepth", "averageValue"))...)
	}
	if m.RequestRate != nil {
		errs = append(errs, positive(m.RequestRate.AverageValue, fldPath.Child("requestRate", "averageValue"))...)
	}
	if m.ModelMetric != nil {
		p := fldPath.Child("modelMetric")
		switch {
		case m.ModelMetric.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "the model server's gauge, e.g. vllm:num_requests_waiting"))
		case !promMetricName.MatchString(m.ModelMetric.Name):
			errs = append(errs, field.Invalid(p.Child("name"), m.ModelMetric.Name, "must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"))
		}
		errs = append(errs, positive(m.ModelMetric.AverageValue, p.Child("averageValue"))...)
	}
	if m.GPU != nil {
		p := fldPath.Child("gpu")
		if m.GPU.Metric != "" && !slices.Contains(GPUMetrics, m.GPU.Metric) {
			errs = append(errs, field.NotSupported(p.Child("metric"), m.GPU.Metric, GPUMetrics))
		}
		errs = append(errs, percent(m.GPU.AverageUtilization, p.Child("averageUtilization"))...)
	}
	if m.Resource != nil {
		errs = append(errs, validateResource(m.Resource, fldPath.Child("resource"))...)
	}
	if m.Pods != nil {
		errs = append(errs, validatePods(m.Pods, fldPath.Child("pods"))...)
	}
	if m.Object != nil {
		errs = append(errs, validateObject(m.Object, fldPath.Child("object"))...)
	}
	if m.External != nil {
		errs = append(errs, validateExternal(m.External, fldPath.Child("external"))...)
	}
	return errs
}

// validatePods, validateObject and validateExternal accept what HPA's validation accepts,
// except an Object target that HPA would refuse at every sync (neither a Value with a value
// nor an AverageValue with an averageValue).
func validatePods(src *PodsMetricSource, fldPath *field.Path) field.ErrorList {
	errs := validateMetricIdentifier(&src.Metric, fldPath.Child("metric"))
	errs = append(errs, validateMetricTarget(&src.Target, fldPath.Child("target"))...)
	if src.Target.AverageValue == nil {
		errs = append(errs, field.Required(fldPath.Child("target", "averageValue"), "must specify a positive target averageValue"))
	}
	return errs
}

func validateObject(src *ObjectMetricSource, fldPath *field.Path) field.ErrorList {
	errs := validateTargetRef(&src.DescribedObject, fldPath.Child("describedObject"))
	errs = append(errs, validateMetricIdentifier(&src.Metric, fldPath.Child("metric"))...)
	t, p := &src.Target, fldPath.Child("target")
	errs = append(errs, validateMetricTarget(t, p)...)
	switch {
	case t.Value == nil && t.AverageValue == nil:
		errs = append(errs, field.Required(p.Child("averageValue"), "must set either a target value or averageValue"))
	case t.Type == ValueMetricType && t.Value == nil:
		errs = append(errs, field.Required(p.Child("value"), "must be set when type is Value"))
	case t.Type == AverageValueMetricType && t.AverageValue == nil:
		errs = append(errs, field.Required(p.Child("averageValue"), "must be set when type is AverageValue"))
	case t.Type == UtilizationMetricType:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []MetricTargetType{ValueMetricType, AverageValueMetricType}))
	}
	return errs
}

func validateExternal(src *ExternalMetricSource, fldPath *field.Path) field.ErrorList {
	errs := validateMetricIdentifier(&src.Metric, fldPath.Child("metric"))
	t, p := &src.Target, fldPath.Child("target")
	errs = append(errs, validateMetricTarget(t, p)...)
	if t.Value == nil && t.AverageValue == nil {
		errs = append(errs, field.Required(p.Child("averageValue"), "must set either a target value for metric or a per-pod target"))
	}
	if t.Value != nil && t.AverageValue != nil {
		errs = append(errs, field.Forbidden(p.Child("value"), "may not set both a target value for metric and a per-pod target"))
	}
	return errs
}

// validateMetricTarget is HPA's check of a metric target.
func validateMetricTarget(t *MetricTarget, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case UtilizationMetricType, ValueMetricType, AverageValueMetricType:
	case "":
		errs = append(errs, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), t.Type, []MetricTargetType{UtilizationMetricType, ValueMetricType, AverageValueMetricType}))
	}
	if t.Value != nil {
		errs = append(errs, positive(*t.Value, fldPath.Child("value"))...)
	}
	if t.AverageValue != nil {
		errs = append(errs, positive(*t.AverageValue, fldPath.Child("averageValue"))...)
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

// validateMetricIdentifier checks the name as HPA does (it becomes a URL path segment) and
// the selector as the metrics API will parse it.
func validateMetricIdentifier(id *MetricIdentifier, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case id.Name == "":
		errs = append(errs, field.Required(fldPath.Child("name"), "must specify a metric name"))
	case len(id.Name) > maxMetricNameLength:
		errs = append(errs, field.TooLong(fldPath.Child("name"), id.Name, maxMetricNameLength))
	default:
		for _, msg := range content.IsPathSegmentName(id.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("name"), id.Name, msg))
		}
	}
	if id.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(id.Selector, metav1validation.LabelSelectorValidationOptions{}, fldPath.Child("selector"))...)
	}
	return errs
}

func validateLatency(l *LatencyMetricSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !(l.Percentile > 0 && l.Percentile < 100) {
		errs = append(errs, field.Invalid(fldPath.Child("percentile"), l.Percentile, "must be greater than 0 and less than 100, e.g. 99"))
	}
	if l.Target.Duration <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("target"), l.Target.Duration.String(), "must be a positive duration such as 500ms"))
	} else if l.Target.Duration < time.Millisecond {
		errs = append(errs, field.Invalid(fldPath.Child("target"), l.Target.Duration.String(), "must be at least 1ms: latencies are measured in milliseconds"))
	}
	if l.MinRequests != nil && *l.MinRequests < 1 {
		errs = append(errs, field.Invalid(fldPath.Child("minRequests"), *l.MinRequests, "must be at least 1"))
	}
	if l.TimeToFirstByte && l.TimePerOutputToken {
		errs = append(errs, field.Invalid(fldPath.Child("timePerOutputToken"), true, "exclusive with timeToFirstByte: one latency metric measures one of them"))
	}
	return errs
}

func validateResource(r *ResourceMetricSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch r.Name {
	case corev1.ResourceCPU, corev1.ResourceMemory, GPUResourceName:
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("name"), r.Name,
			[]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, GPUResourceName}))
	}
	t, p := &r.Target, fldPath.Child("target")
	switch t.Type {
	case UtilizationMetricType:
		if t.AverageUtilization == nil {
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must be set when type is Utilization"))
		} else if r.Name == GPUResourceName {
			errs = append(errs, percent(*t.AverageUtilization, p.Child("averageUtilization"))...)
		} else if *t.AverageUtilization < 1 {
			errs = append(errs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be at least 1 (percent of the pods' requests)"))
		}
	case AverageValueMetricType:
		if t.AverageValue == nil {
			errs = append(errs, field.Required(p.Child("averageValue"), "must be set when type is AverageValue"))
		} else {
			errs = append(errs, positive(*t.AverageValue, p.Child("averageValue"))...)
		}
	case ValueMetricType:
		if t.Value == nil {
			errs = append(errs, field.Required(p.Child("value"), "must be set when type is Value"))
		} else {
			errs = append(errs, positive(*t.Value, p.Child("value"))...)
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type,
			[]MetricTargetType{UtilizationMetricType, ValueMetricType, AverageValueMetricType}))
	}
	if r.Name == GPUResourceName && t.Type != UtilizationMetricType && t.Type != "" {
		errs = append(errs, field.Invalid(p.Child("type"), t.Type, "nvidia.com/gpu supports only Utilization (NVML utilization in percent)"))
	}
	return errs
}

func validateRules(r *ScalingRules, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxStabilizationSeconds) {
		errs = append(errs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w,
			fmt.Sprintf("must be between 0 and %d", maxStabilizationSeconds)))
	}
	if sp := r.SelectPolicy; sp != nil {
		switch *sp {
		case MaxChangePolicySelect, MinChangePolicySelect, DisabledPolicySelect:
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("selectPolicy"), *sp,
				[]ScalingPolicySelect{MaxChangePolicySelect, MinChangePolicySelect, DisabledPolicySelect}))
		}
	}
	for i, p := range r.Policies {
		pp := fldPath.Child("policies").Index(i)
		if p.Type != PodsScalingPolicy && p.Type != PercentScalingPolicy {
			errs = append(errs, field.NotSupported(pp.Child("type"), p.Type, []ScalingPolicyType{PodsScalingPolicy, PercentScalingPolicy}))
		}
		if p.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), p.Value, "must be greater than 0"))
		}
		if p.PeriodSeconds < 1 || p.PeriodSeconds > maxPolicyPeriodSeconds {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), p.PeriodSeconds,
				fmt.Sprintf("must be between 1 and %d", maxPolicyPeriodSeconds)))
		}
	}
	if t := r.Tolerance; t != nil && (t.Sign() < 0 || t.Cmp(resource.MustParse("1")) >= 0) {
		errs = append(errs, field.Invalid(fldPath.Child("tolerance"), t.String(), "must be at least 0 and less than 1, e.g. 0.1"))
	}
	return errs
}

func validateBurst(b *BurstSpec, stableWindow int32, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t := b.Threshold; t != nil && (*t < minBurstThreshold || *t > maxBurstThreshold) {
		errs = append(errs, field.Invalid(fldPath.Child("threshold"), *t,
			fmt.Sprintf("must be between %d and %d (percent of the ready replicas)", minBurstThreshold, maxBurstThreshold)))
	}
	if w := b.WindowSeconds; w != nil {
		switch {
		case *w < 1 || *w > maxBurstWindowSeconds:
			errs = append(errs, field.Invalid(fldPath.Child("windowSeconds"), *w, fmt.Sprintf("must be between 1 and %d", maxBurstWindowSeconds)))
		case *w >= stableWindow:
			errs = append(errs, field.Invalid(fldPath.Child("windowSeconds"), *w, fmt.Sprintf("must be shorter than the stable window (%ds)", stableWindow)))
		}
	}
	return errs
}

func positive(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than 0")}
	}
	return nil
}

func percent(v int32, fldPath *field.Path) field.ErrorList {
	if v < 1 || v > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must be between 1 and 100 (percent)")}
	}
	return nil
}

// Warnings returns advice on a valid but risky spec, for admission warnings.
func Warnings(s *AutoscalingPolicySpec) []string {
	var warns []string
	hasLatency := false
	for _, m := range s.Metrics {
		if m.Type == LatencyMetricType {
			hasLatency = true
		}
	}
	if hasLatency && s.Behavior != nil && s.Behavior.ScaleDown != nil {
		if w := s.Behavior.ScaleDown.StabilizationWindowSeconds; w != nil && *w < 60 {
			warns = append(warns, fmt.Sprintf("spec.behavior.scaleDown.stabilizationWindowSeconds is %ds: with a latency metric, "+
				"a window under 60s lets a short lull remove replicas that the next burst needs", *w))
		}
	}
	if s.MinReplicas != nil && *s.MinReplicas == s.MaxReplicas {
		warns = append(warns, fmt.Sprintf("spec.minReplicas equals spec.maxReplicas (%d): the policy can never change the replica count", s.MaxReplicas))
	}
	for i := range s.Metrics {
		warns = append(warns, targetTypeWarnings(&s.Metrics[i], i)...)
	}
	if s.Behavior != nil && disabled(s.Behavior.ScaleUp) && disabled(s.Behavior.ScaleDown) {
		warns = append(warns, "spec.behavior disables both scaleUp and scaleDown: the policy never scales")
	}
	return warns
}

// targetTypeWarnings tells where HPA's rules read a Pods or External target by the field
// that is set rather than by its type, which a valid spec may leave at odds.
func targetTypeWarnings(m *MetricSpec, i int) []string {
	switch {
	case m.Type == PodsMetricType && m.Pods != nil:
		if t := &m.Pods.Target; t.Type != AverageValueMetricType && t.AverageValue != nil {
			return []string{fmt.Sprintf("spec.metrics[%d].pods.target.type is %s: a Pods metric is always compared with averageValue, as in HPA", i, t.Type)}
		}
	case m.Type == ExternalMetricType && m.External != nil:
		t, used := &m.External.Target, ValueMetricType
		if t.AverageValue != nil {
			used = AverageValueMetricType
		}
		if t.Type != used && (t.Value != nil || t.AverageValue != nil) {
			return []string{fmt.Sprintf("spec.metrics[%d].external.target.type is %s but only %s is set: the target is read as %s, as HPA does", i, t.Type, lowerFirst(string(used)), used)}
		}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func disabled(r *ScalingRules) bool {
	return r != nil && r.SelectPolicy != nil && *r.SelectPolicy == DisabledPolicySelect
}
