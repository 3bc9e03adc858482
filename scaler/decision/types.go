package decision

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// Window is the agents' data over one window, exactly as the report store computes it
// (window.Store.Window): per-pod request rate, in-flight, queue, model gauges and GPU
// utilization, and the target's merged latency sketches. The decision reads it and never keeps
// it.
type Window = window.Snapshot

// Input is everything one decision needs. The caller builds it afresh every tick; the core
// neither keeps nor modifies it.
type Input struct {
	// Spec is the policy's spec with every default filled: spec.Defaulted(). Required.
	Spec *v1alpha1.AutoscalingPolicySpec

	// CurrentReplicas is spec.replicas of the target's /scale subresource.
	CurrentReplicas int32

	// StatusReplicas is status.replicas of the target's /scale subresource: HPA's divisor of
	// an Object or External metric with an AverageValue target.
	StatusReplicas int32

	// Pods are the target's pods as the API server sees them (through the target's selector
	// or owner chain), terminating, pending and failed ones included: the core sorts them
	// into ready, unready, missing and ignored as HPA's groupPods does.
	Pods []Pod

	// Stable is the store's snapshot over spec.stableWindowSeconds; Burst the one over
	// spec.burst.windowSeconds. A pod of Pods without an entry in a window's Pods is a pod
	// with missing metrics in HPA's sense.
	Stable, Burst Window

	// Covered is how long the report store has had reports of this target
	// (window.Store.Covered). Until it reaches the stable window no scale-down happens: after
	// a restart or failover the windows start empty and would under-count the load.
	Covered time.Duration

	// Resources are metrics.k8s.io pod usages for the resources that Resource metrics of
	// the spec name (cpu, memory), by resource, then by pod name. A resource without an entry,
	// or with an empty one (the metrics API failed or has nothing), makes its metric invalid,
	// as in HPA.
	// nvidia.com/gpu is never read from here: it is the agents' NVML utilization.
	Resources map[corev1.ResourceName]map[string]ResourceUsage

	// MetricsAPI holds what custom.metrics.k8s.io and external.metrics.k8s.io answered for
	// the spec's Pods, Object and External metrics, by MetricsAPIKey of the metric. A metric
	// without an entry is invalid.
	MetricsAPI map[string]APIMetric

	// HPAConflict names a HorizontalPodAutoscaler that scales the same target, or is empty.
	// While it is set nothing is scaled: two autoscalers on one /scale fight.
	HPAConflict string
}

// Pod is what the decision needs of one pod of the target.
type Pod struct {
	// Name is the pod's name, the key of the windows' and Resources' per-pod maps.
	Name string
	// Phase is status.phase. Pending pods count as unready, Failed ones are ignored.
	Phase corev1.PodPhase
	// Ready is the status of the pod's Ready condition, "" when it has none.
	Ready corev1.ConditionStatus
	// ReadyTransition is the lastTransitionTime of the Ready condition; zero when it has none.
	ReadyTransition time.Time
	// StartTime is status.startTime; zero before the kubelet started the pod.
	StartTime time.Time
	// Terminating is true once the pod has a deletionTimestamp; such pods are ignored.
	Terminating bool
	// Unschedulable is true while the pod's PodScheduled condition is False with reason
	// Unschedulable. While a pod created by the last scale-up is, for at most 5 minutes after
	// its creation, no further scale-up happens: more pods would not get scheduled either.
	Unschedulable bool
	// Created is metadata.creationTimestamp; zero when unknown (such a pod counts as one of
	// the last scale-up, created now).
	Created time.Time
	// Requests are the pod's resource requests in milli-units, computed as HPA's
	// calculateRequests does with no container named: the pod-level request when the pod
	// sets one, else the sum over its containers and restartable init containers (native
	// sidecars). A resource is absent when some container has no request for it, which makes
	// a Utilization metric of that resource invalid.
	Requests map[corev1.ResourceName]int64
	// GPUs is how many device-plugin GPUs (nvidia.com/gpu and MIG slices, nvidia.com/mig-*)
	// the pod's containers request. A pod whose agent reports more GPUs than this without
	// knowing which are the pod's makes a GPU metric invalid.
	GPUs int64
}

// ResourceUsage is one pod's usage of one resource from metrics.k8s.io (PodMetrics, summed
// over the pod's containers).
type ResourceUsage struct {
	// Value is the usage in milli-units (Quantity.MilliValue()): millicores for cpu,
	// thousandths of a byte for memory, as HPA's metrics client reports it.
	Value int64
	// Timestamp and Window are the PodMetrics' timestamp and window; the cpu rules for
	// pods that just became ready use them.
	Timestamp time.Time
	Window    time.Duration
}

// Decision is the outcome of one tick for one policy.
type Decision struct {
	// CurrentReplicas echoes Input.CurrentReplicas.
	CurrentReplicas int32

	// DesiredReplicas is what the target's /scale should say. When it differs from
	// CurrentReplicas the caller writes /scale and, once the write succeeded, calls
	// Autoscaler.Scaled so the rate policies see the change.
	DesiredReplicas int32

	// Recommendation is the largest per-metric recommendation (burst included) before
	// stabilization, rate policies and min/max; 0 when no metric gave one.
	Recommendation int32

	// Reason says in words why DesiredReplicas is what it is, e.g.
	// "p99 812ms > target 500ms over 1m0s: 3 → 5". Meant for Events and logs.
	Reason string

	// DrivingMetric names the metric whose recommendation won, e.g. "Latency p99",
	// "QueueDepth", "Resource cpu"; empty when none did.
	DrivingMetric string

	// Metrics has one entry per metric of the spec, in spec order: its observed value and
	// what it alone recommended (status.currentMetrics).
	Metrics []v1alpha1.MetricStatus

	// Conditions are AbleToScale, ScalingActive and ScalingLimited, always all three, with
	// HPA's reasons. LastTransitionTime is now and ObservedGeneration zero: the caller sets
	// the generation and merges them with meta.SetStatusCondition, which keeps the old
	// transition time of a condition whose status did not change.
	Conditions []metav1.Condition

	// Burst is true while burst mode holds: the burst window's recommendation crossed the
	// threshold, within the last stable window.
	Burst bool

	// Hold is true when a safety rule, not the metrics, fixed DesiredReplicas at
	// CurrentReplicas: no usable metric data, an invalid metric on a scale-down, data that
	// does not yet cover a stable window, an HPA on the same target, or a target scaled to
	// zero by hand.
	Hold bool
}
