package decision

import (
	"math"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// HPA's ScalingActive reasons for the metrics read from the metrics adapters' APIs.
const (
	reasonFailedGetPodsMetric     = "FailedGetPodsMetric"
	reasonFailedGetObjectMetric   = "FailedGetObjectMetric"
	reasonFailedGetExternalMetric = "FailedGetExternalMetric"
)

// APIMetric is what custom.metrics.k8s.io or external.metrics.k8s.io answered for one Pods,
// Object or External metric, read as HPA's REST metrics client reads it.
type APIMetric struct {
	// Err is why the value could not be read; the metric is then invalid, with HPA's reason
	// (FailedGetPodsMetric, FailedGetObjectMetric, FailedGetExternalMetric).
	Err error
	// Pods are a Pods metric's values by pod name, in milli-units (Quantity.MilliValue()).
	Pods map[string]int64
	// Value is an Object metric's value, or the sum of an External metric's series
	// (saturating at MaxInt64, as HPA's), in milli-units.
	Value int64
	// Timestamp is the value's (the first series' or pod's) timestamp.
	Timestamp time.Time
}

// MetricsAPIKey names the query a Pods, Object or External metric makes, the key of
// Input.MetricsAPI; "" for the other metrics. Two metrics that ask the same share an entry.
func MetricsAPIKey(m *v1alpha1.MetricSpec) string {
	switch {
	case m.Type == v1alpha1.PodsMetricType && m.Pods != nil:
		return "pods/" + m.Pods.Metric.Name + "?" + selectorKey(m.Pods.Metric.Selector)
	case m.Type == v1alpha1.ObjectMetricType && m.Object != nil:
		o := &m.Object.DescribedObject
		return "object/" + o.APIVersion + "/" + o.Kind + "/" + o.Name + "/" + m.Object.Metric.Name + "?" + selectorKey(m.Object.Metric.Selector)
	case m.Type == v1alpha1.ExternalMetricType && m.External != nil:
		return "external/" + m.External.Metric.Name + "?" + selectorKey(m.External.Metric.Selector)
	}
	return ""
}

func selectorKey(s *metav1.LabelSelector) string {
	if s == nil {
		return ""
	}
	return metav1.FormatLabelSelector(s)
}

// apiMetric returns the metric's answer, or an error naming what was not read.
func (e *evaluator) apiMetric(m *v1alpha1.MetricSpec, api string) (APIMetric, bool) {
	got, ok := e.in.MetricsAPI[MetricsAPIKey(m)]
	if !ok {
		return APIMetric{Err: errNotRead(api)}, false
	}
	return got, got.Err == nil
}

type errNotRead string

func (e errNotRead) Error() string { return "the metric was not read from " + string(e) }

// totalReplicas is HPA's rule for one value against a Value target, whether it describes an
// object (GetObjectMetricReplicas) or sums an external metric's series
// (GetExternalMetricReplicas): the usage ratio times the ready pods.
func (e *evaluator) totalReplicas(usage int64, target float64, ev *evaluation) {
	ev.ratio = float64(usage) / target
	ev.replicas = objectReplicas(e.cur, ev.ratio, e.ready, e.tol)
	ev.status.Current = milliQuantity(usage)
	ev.current = ev.status.Current
}

// perPodReplicas is HPA's rule for one value against an AverageValue target
// (GetObjectPerPodMetricReplicas, GetExternalPerPodMetricReplicas): the value divided by the
// target, unless it is within tolerance of the target times status.replicas.
func (e *evaluator) perPodReplicas(usage int64, target float64, ev *evaluation) {
	status := e.in.StatusReplicas
	replicas := status
	ratio := float64(usage) / (target * float64(status))
	if !e.tol.within(ratio) {
		replicas = ceilReplicas(float64(usage) / target)
	}
	ev.ratio, ev.replicas = ratio, replicas
	if status > 0 && float64(usage) < math.MaxInt64 {
		ev.status.Current = milliQuantity(int64(math.Ceil(float64(usage) / float64(status))))
		ev.current = ev.status.Current + "/replica"
	} else {
		ev.status.Current = milliQuantity(usage)
		ev.current = ev.status.Current + " total"
	}
}

// valueTarget reads a Value or AverageValue target as HPA does: an AverageValue when it is
// set (External) or when the type says so (Object), in milli-units.
func valueTarget(t *v1alpha1.MetricTarget, averageFirst bool) (milli float64, perPod, ok bool) {
	switch {
	case averageFirst && t.AverageValue != nil:
		return float64(t.AverageValue.MilliValue()), true, true
	case averageFirst && t.Value != nil:
		return float64(t.Value.MilliValue()), false, true
	case t.Type == v1alpha1.ValueMetricType && t.Value != nil:
		return float64(t.Value.MilliValue()), false, true
	case t.Type == v1alpha1.AverageValueMetricType && t.AverageValue != nil:
		return float64(t.AverageValue.MilliValue()), true, true
	}
	return 0, false, false
}

// milliQuantity renders a milli-value as HPA's status does (resource.DecimalSI).
func milliQuantity(milli int64) string {
	return resource.NewMilliQuantity(milli, resource.DecimalSI).String()
}
