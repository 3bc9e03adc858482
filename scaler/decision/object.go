package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// objectMetric is HPA's object metric: one value describing an object of the policy's
// namespace, from custom.metrics.k8s.io. A Value target recommends the usage ratio times the
// ready pods (GetObjectMetricReplicas), an AverageValue target the value over the target
// (GetObjectPerPodMetricReplicas).
type objectMetric struct{}

func init() { registerMetricType(v1alpha1.ObjectMetricType, objectMetric{}) }

func (objectMetric) fromAgents(*v1alpha1.MetricSpec) bool { return false }

func (objectMetric) failReason() string { return reasonFailedGetObjectMetric }

func (objectMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.Object == nil {
		return 0, false
	}
	target, perPod, ok := valueTarget(&m.Object.Target, false)
	if !ok {
		return 0, false
	}
	o, name := &m.Object.DescribedObject, m.Object.Metric.Name
	ev.label = o.Kind + "/" + o.Name + " " + name
	ev.driving, ev.status.Name = "Object "+ev.label, ev.label
	describeValueTarget(&m.Object.Target, perPod, ev)
	return target, true
}

func (objectMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	got, ok := e.apiMetric(m, "custom.metrics.k8s.io")
	if !ok {
		ev.err = got.Err
		return
	}
	if _, perPod, _ := valueTarget(&m.Object.Target, false); perPod {
		e.perPodReplicas(got.Value, target, ev)
		return
	}
	e.totalReplicas(got.Value, target, ev)
}

// describeValueTarget fills ev's target of a Value or AverageValue target.
func describeValueTarget(t *v1alpha1.MetricTarget, perPod bool, ev *evaluation) {
	if perPod {
		ev.status.Target = t.AverageValue.String()
		ev.target = ev.status.Target + "/replica"
		return
	}
	ev.status.Target = t.Value.String()
	ev.target = ev.status.Target
}
