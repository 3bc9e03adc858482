package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// modelMetric is a gauge the model server exports itself (vllm:num_requests_waiting, …), as
// the agents scrape it, per ready pod. A pod that does not export it is missing data.
type modelMetric struct{}

func init() { registerMetricType(v1alpha1.ModelMetricType, modelMetric{}) }

func (modelMetric) fromAgents(*v1alpha1.MetricSpec) bool { return true }

func (modelMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.ModelMetric == nil {
		return 0, false
	}
	ev.label, ev.driving, ev.status.Name = m.ModelMetric.Name, "ModelMetric "+m.ModelMetric.Name, m.ModelMetric.Name
	ev.target = m.ModelMetric.AverageValue.String() + "/replica"
	ev.status.Target = m.ModelMetric.AverageValue.String()
	return m.ModelMetric.AverageValue.AsApproximateFloat64(), true
}

func (modelMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	name := m.ModelMetric.Name
	avg, ok := e.average(target, ev, func(s window.PodStats) (float64, bool) {
		v, ok := s.ModelMetrics[name]
		return v, ok
	})
	if ok {
		perReplica(ev, avg, "/replica")
	}
}
