package decision

import (
	"strconv"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// gpuMetric is the NVML utilization (or memory utilization) the agents report, averaged over
// the ready pods' GPUs. A pod whose reports carry no GPU is missing data.
type gpuMetric struct{}

func init() { registerMetricType(v1alpha1.GPUMetricType, gpuMetric{}) }

func (gpuMetric) fromAgents(*v1alpha1.MetricSpec) bool { return true }

func (gpuMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.GPU == nil {
		return 0, false
	}
	name := string(m.GPU.Metric)
	if name == "" {
		name = string(v1alpha1.GPUUtilization)
	}
	ev.label, ev.driving, ev.status.Name = "GPU "+name, "GPU "+name, name
	ev.target = strconv.Itoa(int(m.GPU.AverageUtilization)) + "%"
	return float64(m.GPU.AverageUtilization), true
}

func (gpuMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	value := gpuUtilization
	if m.GPU.Metric == v1alpha1.GPUMemoryUtilization {
		value = gpuMemoryUtilization
	}
	gpuAverage(e, target, ev, value)
}

// gpuAverage evaluates a GPU percent per ready pod; Resource nvidia.com/gpu uses it too.
func gpuAverage(e *evaluator, target float64, ev *evaluation, value func(window.PodStats) (float64, bool)) {
	if avg, ok := e.average(target, ev, value); ok {
		ev.current = formatFloat(avg) + "%"
		ev.status.Current = ev.current
	}
}

func gpuUtilization(s window.PodStats) (float64, bool) { return s.GPU.Signal(reportv1.GPUUtilization) }

func gpuMemoryUtilization(s window.PodStats) (float64, bool) {
	return s.GPU.Signal(reportv1.GPUMemoryUtilization)
}
