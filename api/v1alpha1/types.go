package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AutoscalingPolicy scales a workload with a /scale subresource from what its
// inference traffic and GPUs do: latency percentiles, queue depth, request
// rate, model-server gauges, NVML utilization, and HPA's cpu/memory.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=asp,categories=inferscale
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.targetRef.kind`,priority=1
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.minReplicas`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxReplicas`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.currentReplicas`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.status.targets`
// +kubebuilder:printcolumn:name="Metric",type=string,JSONPath=`.status.drivingMetric`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AutoscalingPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AutoscalingPolicySpec   `json:"spec"`
	Status AutoscalingPolicyStatus `json:"status,omitempty"`
}

// AutoscalingPolicyList is a list of AutoscalingPolicy.
//
// +kubebuilder:object:root=true
type AutoscalingPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AutoscalingPolicy `json:"items"`
}

// AutoscalingPolicySpec is the HPA autoscaling/v2 spec plus inference metrics:
// an HPA works by changing its apiVersion and kind (scaleTargetRef and the
// Resource, Pods, Object and External metrics are HPA's; ContainerResource is
// not supported). A MatrixInfer AutoscalingPolicy works by changing its apiVersion.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas",fieldPath=".minReplicas"
// +kubebuilder:validation:XValidation:rule="has(self.targetRef) || has(self.scaleTargetRef)",message="targetRef (or its HPA name, scaleTargetRef) is required"
// +kubebuilder:validation:XValidation:rule="!has(self.targetRef) || !has(self.scaleTargetRef) || (self.targetRef.apiVersion == self.scaleTargetRef.apiVersion && self.targetRef.kind == self.scaleTargetRef.kind && self.targetRef.name == self.scaleTargetRef.name)",message="targetRef and scaleTargetRef are one field under two names: set one, or both to the same target",fieldPath=".scaleTargetRef"
type AutoscalingPolicySpec struct {
	// TargetRef names the workload to scale. Any kind with a /scale
	// subresource works: Deployment, StatefulSet, SeldonDeployment, ...
	// Required unless scaleTargetRef is set. Read it through Target().
	// +optional
	TargetRef CrossVersionObjectReference `json:"targetRef,omitzero"`

	// ScaleTargetRef is HPA's name of targetRef, so that an HPA spec applies
	// unchanged. It is kept as written; when both are set they must be equal.
	// +optional
	ScaleTargetRef CrossVersionObjectReference `json:"scaleTargetRef,omitzero"`

	// MinReplicas is the lower bound. Scale to zero is not supported, so it
	// is at least 1. Defaults to 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper bound.
	// +kubebuilder:validation:Minimum=1
	MaxReplicas int32 `json:"maxReplicas"`

	// Metrics each recommend a replica count; the largest wins, as in HPA.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Metrics []MetricSpec `json:"metrics"`

	// Behavior configures scale-up and scale-down exactly as the HPA's
	// autoscaling/v2 behavior does, with the same defaults.
	// +optional
	Behavior *Behavior `json:"behavior,omitempty"`

	// StableWindowSeconds is the window over which reports are aggregated
	// for the regular decision. Defaults to 60.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=6
	// +kubebuilder:validation:Maximum=600
	StableWindowSeconds *int32 `json:"stableWindowSeconds,omitempty"`

	// Burst is a fast scale-up on a short window for sudden spikes, like
	// Knative's panic mode. Omitted, it is on with its defaults.
	// +optional
	Burst *BurstSpec `json:"burst,omitempty"`

	// ScaleDownHold bounds the scale-down stabilization window by a multiple
	// of the pods' start time as the scaler measures it. Omitted: the window
	// of behavior.scaleDown, as HPA.
	// +optional
	ScaleDownHold *ScaleDownHold `json:"scaleDownHold,omitempty"`

	// Priority orders the policies an AutoscalingBudget covers: when they
	// ask for more than the budget holds, higher priorities are served
	// first. Defaults to 0.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000000
	Priority *int32 `json:"priority,omitempty"`

	// Preemptible lets a budget scale the target down, to its minReplicas at
	// most, to make room for higher-priority policies. Defaults to false: the
	// target keeps the replicas it runs, and only its growth waits.
	// +optional
	Preemptible bool `json:"preemptible,omitempty"`

	// Headroom keeps spare replicas above the demand, within maxReplicas;
	// a budget gives them up first. Omitted: none.
	// +optional
	Headroom *HeadroomSpec `json:"headroom,omitempty"`
}

// ScaleDownHold ties how long a peak is held to what losing it costs: a pod
// taken away and needed again is missing for one start time.
type ScaleDownHold struct {
	// StartDelays is the hold in multiples of the start time, from creation
	// to Ready (scheduling, image pull, model load), of the latest pod to
	// become Ready. The scale-down stabilization window is then that hold, at
	// least stableWindowSeconds and at most
	// behavior.scaleDown.stabilizationWindowSeconds. A scale-down taken back
	// within the hold makes later scale-downs to that count wait twice as
	// long; one that stands its whole hold halves the wait again. Until a pod
	// has become Ready under this scaler, the window is behavior.scaleDown's.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	StartDelays int32 `json:"startDelays"`
}

// CrossVersionObjectReference names the scaled workload, as HPA's does.
type CrossVersionObjectReference struct {
	// APIVersion of the target, e.g. apps/v1.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion"`
	// Kind of the target, e.g. Deployment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`
	// Name of the target, in the policy's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// MetricType names the source of a metric.
// +kubebuilder:validation:Enum=Latency;QueueDepth;RequestRate;ModelMetric;GPU;Resource;Pods;Object;External
type MetricType string

const (
	// LatencyMetricType scales on a latency percentile measured by the agents.
	LatencyMetricType MetricType = "Latency"
	// QueueDepthMetricType scales on requests in flight or waiting per ready replica.
	QueueDepthMetricType MetricType = "QueueDepth"
	// RequestRateMetricType scales on requests per second per ready replica.
	RequestRateMetricType MetricType = "RequestRate"
	// ModelMetricType scales on a gauge the model server exports itself.
	ModelMetricType MetricType = "ModelMetric"
	// GPUMetricType scales on NVML utilization reported by the agents.
	GPUMetricType MetricType = "GPU"
	// ResourceMetricType is HPA's resource metric: cpu and memory from
	// metrics.k8s.io, nvidia.com/gpu from NVML.
	ResourceMetricType MetricType = "Resource"
	// PodsMetricType is HPA's pods metric: a per-pod metric of the target's
	// pods from custom.metrics.k8s.io, averaged over them.
	PodsMetricType MetricType = "Pods"
	// ObjectMetricType is HPA's object metric: one metric of another object in
	// the policy's namespace from custom.metrics.k8s.io.
	ObjectMetricType MetricType = "Object"
	// ExternalMetricType is HPA's external metric: a metric from outside the
	// cluster's objects (a queue's length) from external.metrics.k8s.io.
	ExternalMetricType MetricType = "External"
)

// MetricSpec is one metric to scale on. Exactly the block named by Type is set.
//
// +kubebuilder:validation:XValidation:rule="(self.type == 'Latency') == has(self.latency)",message="latency must be set when type is Latency, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'QueueDepth') == has(self.queueDepth)",message="queueDepth must be set when type is QueueDepth, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'RequestRate') == has(self.requestRate)",message="requestRate must be set when type is RequestRate, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'ModelMetric') == has(self.modelMetric)",message="modelMetric must be set when type is ModelMetric, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'GPU') == has(self.gpu)",message="gpu must be set when type is GPU, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Resource') == has(self.resource)",message="resource must be set when type is Resource, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Pods') == has(self.pods)",message="pods must be set when type is Pods, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Object') == has(self.object)",message="object must be set when type is Object, and only then"
// +kubebuilder:validation:XValidation:rule="(self.type == 'External') == has(self.external)",message="external must be set when type is External, and only then"
type MetricSpec struct {
	// Type selects the block below that describes the metric.
	Type MetricType `json:"type"`

	// +optional
	Latency *LatencyMetricSource `json:"latency,omitempty"`
	// +optional
	QueueDepth *AverageValueMetricSource `json:"queueDepth,omitempty"`
	// +optional
	RequestRate *AverageValueMetricSource `json:"requestRate,omitempty"`
	// +optional
	ModelMetric *ModelMetricSource `json:"modelMetric,omitempty"`
	// +optional
	GPU *GPUMetricSource `json:"gpu,omitempty"`
	// +optional
	Resource *ResourceMetricSource `json:"resource,omitempty"`
	// +optional
	Pods *PodsMetricSource `json:"pods,omitempty"`
	// +optional
	Object *ObjectMetricSource `json:"object,omitempty"`
	// +optional
	External *ExternalMetricSource `json:"external,omitempty"`
}

// LatencyMetricSource targets a latency percentile over the stable window,
// computed from the merged histograms of all ready replicas.
// +kubebuilder:validation:XValidation:rule="!(has(self.timeToFirstByte) && self.timeToFirstByte && has(self.timePerOutputToken) && self.timePerOutputToken)",message="timeToFirstByte and timePerOutputToken are exclusive: one latency metric measures one of them"
type LatencyMetricSource struct {
	// Percentile in (0, 100), e.g. 99 or 99.9.
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMaximum=true
	// +kubebuilder:validation:Maximum=100
	Percentile float64 `json:"percentile"`
	// Target is the latency the percentile should stay under, e.g. 500ms.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="target must be a positive duration such as 500ms"
	Target metav1.Duration `json:"target"`
	// TimeToFirstByte measures until the first response byte instead of the
	// whole response: the right choice for streamed token responses.
	// +optional
	TimeToFirstByte bool `json:"timeToFirstByte,omitempty"`
	// TimePerOutputToken measures, per streamed (text/event-stream) response
	// of at least two events, the time from its first event to its last over
	// the events between them: the time per output token of a server that
	// sends one token per event, as OpenAI-compatible servers do. Responses
	// that are not event streams are not in it. Exclusive with
	// timeToFirstByte.
	// +optional
	TimePerOutputToken bool `json:"timePerOutputToken,omitempty"`
	// MinRequests is how many requests the window must hold before the
	// percentile is trusted. Defaults to 20.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	MinRequests *int32 `json:"minRequests,omitempty"`
}

// AverageValueMetricSource targets an average per ready replica.
type AverageValueMetricSource struct {
	// AverageValue is the target per ready replica.
	AverageValue resource.Quantity `json:"averageValue"`
}

// ModelMetricSource targets a gauge the model server exports on its own
// Prometheus endpoint, scraped by the agent, averaged per ready replica.
type ModelMetricSource struct {
	// Name of the gauge, e.g. vllm:num_requests_waiting,
	// nv_inference_pending_request_count or tgi_queue_size.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Name string `json:"name"`
	// AverageValue is the target per ready replica.
	AverageValue resource.Quantity `json:"averageValue"`
}

// GPUMetric names a reading of the pod's GPUs, in percent. Which one follows
// load depends on the server: see the README's "Which GPU signal".
// +kubebuilder:validation:Enum=utilization;memoryUtilization;smActivity;smOccupancy;tensorActivity;powerUtilization
type GPUMetric string

const (
	// GPUUtilization is the percent of time a kernel ran (NVML utilization.gpu).
	// It reads 100 while one kernel idles on a lock, and MIG slices lack it.
	GPUUtilization GPUMetric = "utilization"
	// GPUMemoryUtilization is memory used over memory total, in percent.
	GPUMemoryUtilization GPUMetric = "memoryUtilization"
	// GPUSMActivity is the percent of SMs busy (GPM, Hopper and newer; MIG too).
	GPUSMActivity GPUMetric = "smActivity"
	// GPUSMOccupancy is resident warps over the maximum, in percent (GPM).
	GPUSMOccupancy GPUMetric = "smOccupancy"
	// GPUTensorActivity is the percent of time the tensor pipes were busy (GPM).
	GPUTensorActivity GPUMetric = "tensorActivity"
	// GPUPowerUtilization is power draw over the enforced power limit, in
	// percent; not on MIG slices, which share their GPU's power.
	GPUPowerUtilization GPUMetric = "powerUtilization"
)

// GPUMetrics lists every GPUMetric.
var GPUMetrics = []GPUMetric{GPUUtilization, GPUMemoryUtilization, GPUSMActivity, GPUSMOccupancy, GPUTensorActivity, GPUPowerUtilization}

// GPUMetricSource targets a GPU reading averaged over the GPUs (or MIG slices)
// of the ready replicas.
type GPUMetricSource struct {
	// Metric is utilization (default), memoryUtilization, smActivity,
	// smOccupancy, tensorActivity or powerUtilization. A device that does not
	// report it counts as a replica without data.
	// +optional
	// +kubebuilder:default=utilization
	Metric GPUMetric `json:"metric,omitempty"`
	// AverageUtilization is the target in percent, 1..100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	AverageUtilization int32 `json:"averageUtilization"`
}

// ResourceMetricSource is HPA's resource metric. nvidia.com/gpu means the
// NVML utilization of GPUMetricSource.
type ResourceMetricSource struct {
	// Name is cpu, memory or nvidia.com/gpu.
	// +kubebuilder:validation:Enum=cpu;memory;nvidia.com/gpu
	Name corev1.ResourceName `json:"name"`
	// Target is the value to keep the resource at.
	Target MetricTarget `json:"target"`
}

// MetricIdentifier is HPA's: a metric's name and the selector that narrows
// it, passed as the metricLabelSelector of the metrics API.
type MetricIdentifier struct {
	// Name of the metric as the metrics API serves it; a URL path segment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Selector narrows the metric by its labels; omitted, the metrics API
	// picks.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// PodsMetricSource is HPA's pods metric: a metric of each of the target's
// pods (custom.metrics.k8s.io), averaged over them and compared with
// target.averageValue.
type PodsMetricSource struct {
	// Metric names the per-pod metric.
	Metric MetricIdentifier `json:"metric"`
	// Target needs averageValue.
	Target MetricTarget `json:"target"`
}

// ObjectMetricSource is HPA's object metric: a metric describing one object
// of the policy's namespace (custom.metrics.k8s.io), e.g. an Ingress's
// requests per second.
type ObjectMetricSource struct {
	// DescribedObject is the object the metric describes, in the policy's
	// namespace.
	DescribedObject CrossVersionObjectReference `json:"describedObject"`
	// Target is a Value (the metric against the target, times the ready
	// pods) or an AverageValue (the metric divided by the target).
	Target MetricTarget `json:"target"`
	// Metric names the metric.
	Metric MetricIdentifier `json:"metric"`
}

// ExternalMetricSource is HPA's external metric (external.metrics.k8s.io):
// the sum of the series the metric and its selector name, e.g. a queue's
// length.
type ExternalMetricSource struct {
	// Metric names the metric and selects its series.
	Metric MetricIdentifier `json:"metric"`
	// Target is a Value or an AverageValue per pod.
	Target MetricTarget `json:"target"`
}

// MetricTargetType is HPA's metric target type.
// +kubebuilder:validation:Enum=Utilization;Value;AverageValue
type MetricTargetType string

const (
	// UtilizationMetricType targets a percent of the pods' requests.
	UtilizationMetricType MetricTargetType = "Utilization"
	// ValueMetricType targets a total value.
	ValueMetricType MetricTargetType = "Value"
	// AverageValueMetricType targets a value per pod.
	AverageValueMetricType MetricTargetType = "AverageValue"
)

// MetricTarget is HPA's metric target.
type MetricTarget struct {
	// Type is Utilization, Value or AverageValue.
	Type MetricTargetType `json:"type"`
	// +optional
	Value *resource.Quantity `json:"value,omitempty"`
	// +optional
	AverageValue *resource.Quantity `json:"averageValue,omitempty"`
	// AverageUtilization is a percent of the pods' resource requests.
	// +optional
	// +kubebuilder:validation:Minimum=1
	AverageUtilization *int32 `json:"averageUtilization,omitempty"`
}

// Behavior has the fields, semantics and defaults of autoscaling/v2
// HorizontalPodAutoscalerBehavior.
type Behavior struct {
	// ScaleUp defaults to: no stabilization, the larger of +100% and +4 pods
	// per 15 s.
	// +optional
	ScaleUp *ScalingRules `json:"scaleUp,omitempty"`
	// ScaleDown defaults to: 300 s stabilization, down to -100% per 15 s.
	// +optional
	ScaleDown *ScalingRules `json:"scaleDown,omitempty"`
}

// ScalingPolicySelect says which policy wins when several apply.
// +kubebuilder:validation:Enum=Max;Min;Disabled
type ScalingPolicySelect string

const (
	// MaxChangePolicySelect picks the policy allowing the largest change.
	MaxChangePolicySelect ScalingPolicySelect = "Max"
	// MinChangePolicySelect picks the policy allowing the smallest change.
	MinChangePolicySelect ScalingPolicySelect = "Min"
	// DisabledPolicySelect turns scaling in this direction off.
	DisabledPolicySelect ScalingPolicySelect = "Disabled"
)

// ScalingRules is HPA's HPAScalingRules.
type ScalingRules struct {
	// StabilizationWindowSeconds is how far back recommendations are
	// considered: scale-up takes their minimum, scale-down their maximum.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`
	// SelectPolicy is Max (default), Min or Disabled.
	// +optional
	SelectPolicy *ScalingPolicySelect `json:"selectPolicy,omitempty"`
	// Policies limit the change per period.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Policies []ScalingPolicy `json:"policies,omitempty"`
	// Tolerance is the relative distance from the target inside which no
	// scaling happens, in [0, 1). Defaults to 0.1.
	// +optional
	Tolerance *resource.Quantity `json:"tolerance,omitempty"`
}

// ScalingPolicyType is Pods or Percent.
// +kubebuilder:validation:Enum=Pods;Percent
type ScalingPolicyType string

const (
	// PodsScalingPolicy limits the change to a number of pods per period.
	PodsScalingPolicy ScalingPolicyType = "Pods"
	// PercentScalingPolicy limits the change to a percent of the replicas per period.
	PercentScalingPolicy ScalingPolicyType = "Percent"
)

// ScalingPolicy is HPA's HPAScalingPolicy.
type ScalingPolicy struct {
	// Type is Pods or Percent.
	Type ScalingPolicyType `json:"type"`
	// Value is the pods or percent allowed per period; positive.
	// +kubebuilder:validation:Minimum=1
	Value int32 `json:"value"`
	// PeriodSeconds is the period the value applies to, 1..1800.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1800
	PeriodSeconds int32 `json:"periodSeconds"`
}

// BurstSpec configures burst mode: when the recommendation over the short
// burst window reaches Threshold percent of the ready replicas, the target
// scales up at once and does not scale down until a whole stable window has
// passed without burst.
type BurstSpec struct {
	// Threshold in percent of the ready replicas, 110..1000. Defaults to 200.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=110
	// +kubebuilder:validation:Maximum=1000
	Threshold *int32 `json:"threshold,omitempty"`
	// WindowSeconds is the burst window, shorter than the stable window.
	// Defaults to 6.
	// +optional
	// +kubebuilder:default=6
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	WindowSeconds *int32 `json:"windowSeconds,omitempty"`
}

// AutoscalingPolicyStatus is shaped like the HPA's status.
type AutoscalingPolicyStatus struct {
	// ObservedGeneration is the spec generation the last decision used.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScaleTime is when the target's replicas were last changed.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
	// CurrentReplicas is the target's replica count when last observed.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`
	// DesiredReplicas is the replica count of the last decision.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas,omitempty"`
	// DrivingMetric names the metric whose recommendation won the last
	// decision, e.g. "Latency p99".
	// +optional
	DrivingMetric string `json:"drivingMetric,omitempty"`
	// CurrentMetrics are the observed values used in the last decision.
	// +optional
	// +listType=atomic
	CurrentMetrics []MetricStatus `json:"currentMetrics,omitempty"`
	// Targets sums up currentMetrics for `kubectl get`: each metric's observed
	// value against its target, e.g. "p99 812ms/500ms, queue 3/4".
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Targets string `json:"targets,omitempty"`
	// Conditions are Ready, AbleToScale, ScalingActive and ScalingLimited;
	// docs/conditions.md lists their reasons.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Target is the workload the spec scales: targetRef, or scaleTargetRef when
// only that (HPA's name) is set.
func (s *AutoscalingPolicySpec) Target() CrossVersionObjectReference {
	if s.TargetRef == (CrossVersionObjectReference{}) {
		return s.ScaleTargetRef
	}
	return s.TargetRef
}

// TargetField is the JSON name of the field Target read: "targetRef" or "scaleTargetRef",
// for errors that should name the field the user wrote.
func (s *AutoscalingPolicySpec) TargetField() string {
	if s.TargetRef == (CrossVersionObjectReference{}) && s.ScaleTargetRef != (CrossVersionObjectReference{}) {
		return "scaleTargetRef"
	}
	return "targetRef"
}

// MetricStatus is the observed value of one metric in the last decision.
type MetricStatus struct {
	// Type of the metric.
	Type MetricType `json:"type"`
	// Name says which metric of that type, e.g. "p99", "cpu",
	// "vllm:num_requests_waiting".
	// +optional
	Name string `json:"name,omitempty"`
	// Current is the observed value, in the target's unit, e.g. "812ms".
	// Empty when no data was available.
	// +optional
	Current string `json:"current,omitempty"`
	// Target is the target value, e.g. "500ms".
	Target string `json:"target"`
	// RecommendedReplicas is what this metric alone asked for.
	// +optional
	RecommendedReplicas int32 `json:"recommendedReplicas,omitempty"`
}
