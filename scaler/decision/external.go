package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// externalMetric is HPA's external metric: the sum of the series that external.metrics.k8s.io
// returns for the metric and its selector. An averageValue target (whatever the type says, as
// in HPA) recommends the sum over the target (GetExternalPerPodMetricReplicas), a value target
// the usage ratio times the ready pods (GetExternalMetricReplicas).
type externalMetric struct{}

func init() { registerMetricType(v1alpha1.ExternalMetricType, externalMetric{}) }

func (externalMetric) fromAgents(*v1alpha1.MetricSpec) bool { return false }

func (externalMetric) failReason() string { return reasonFailedGetExternalMetric }

func (externalMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.External == nil {
		return 0, false
	}
	target, perPod, ok := valueTarget(&m.External.Target, true)
	if !ok {
		return 0, false
	}
	name := m.External.Metric.Name
	ev.label, ev.driving, ev.status.Name = name, "External "+name, name
	describeValueTarget(&m.External.Target, perPod, ev)
	return target, true
}

func (externalMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	got, ok := e.apiMetric(m, "external.metrics.k8s.io")
	if !ok {
		ev.err = got.Err
		return
	}
	if _, perPod, _ := valueTarget(&m.External.Target, true); perPod {
		e.perPodReplicas(got.Value, target, ev)
		return
	}
	e.totalReplicas(got.Value, target, ev)
}
