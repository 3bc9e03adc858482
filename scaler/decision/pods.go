package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// podsMetric is HPA's pods metric: each pod's value from custom.metrics.k8s.io, averaged
// over the ready pods against target.averageValue by calcPlainMetricReplicas. As for every
// HPA metric but cpu, a running pod with a value counts whatever its Ready condition.
type podsMetric struct{}

func init() { registerMetricType(v1alpha1.PodsMetricType, podsMetric{}) }

func (podsMetric) fromAgents(*v1alpha1.MetricSpec) bool { return false }

func (podsMetric) failReason() string { return reasonFailedGetPodsMetric }

func (podsMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.Pods == nil || m.Pods.Target.AverageValue == nil {
		return 0, false
	}
	name, avg := m.Pods.Metric.Name, m.Pods.Target.AverageValue
	ev.label, ev.driving, ev.status.Name = name, "Pods "+name, name
	ev.target, ev.status.Target = avg.String()+"/replica", avg.String()
	return float64(avg.MilliValue()), true
}

func (podsMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	got, ok := e.apiMetric(m, "custom.metrics.k8s.io")
	if !ok {
		ev.err = got.Err
		return
	}
	s := e.sample(runningIsReady, func(p *Pod) (float64, bool) {
		v, has := got.Pods[p.Name]
		return float64(v), has
	})
	replicas, avg, ratio, err := plainReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = err
		return
	}
	ev.replicas, ev.ratio = replicas, ratio
	// HPA's GetMetricUsageRatio: an integer average of the milli-values.
	ev.status.Current = milliQuantity(int64(avg))
	ev.current = ev.status.Current + "/replica"
}
