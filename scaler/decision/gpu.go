package decision

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// gpuMetric is a GPU signal the agents report (reportv1.GPUSignal: NVML utilization, memory,
// GPM activities, power against its limit), averaged over the ready pods' GPUs. A pod whose
// reports carry no GPU, or no device reporting the signal, is missing data.
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
	name := m.GPU.Metric
	if name == "" {
		name = v1alpha1.GPUUtilization
	}
	sig, ok := reportv1.ParseGPUSignal(string(name))
	if !ok {
		e.invalid(ev, "GPU metric %q is not one of %v", name, v1alpha1.GPUMetrics)
		return
	}
	gpuAverage(e, target, ev, sig)
}

// gpuAverage evaluates a GPU signal in percent per ready pod; Resource nvidia.com/gpu uses it
// too, with utilization. A pod whose agent reads more GPUs than the pod requests and cannot
// tell which are the pod's makes the metric invalid: an average over the node's GPUs would be
// diluted by idle neighbours or inflated by busy ones, and would show other tenants' load.
func gpuAverage(e *evaluator, target float64, ev *evaluation, sig reportv1.GPUSignal) {
	if err := unattributedGPUs(e); err != nil {
		ev.err, ev.failReason = err, v1alpha1.ReasonGPUUnattributed
		return
	}
	withGPU, withSignal := 0, 0
	avg, ok := e.average(target, ev, func(s window.PodStats) (float64, bool) {
		v, has := s.GPU.Signal(sig)
		if s.HasGPU {
			withGPU++
		}
		if has {
			withSignal++
		}
		return v, has
	})
	switch {
	case ok:
		ev.current = formatFloat(avg) + "%"
		ev.status.Current = ev.current
	case withGPU > 0 && withSignal == 0 && ev.err != nil:
		ev.err = fmt.Errorf("%w: the pods' GPUs report no %s%s", ev.err, sig, gpuSignalNeeds[sig])
	}
}

// gpuSignalNeeds says where a signal exists, for the error of a metric no device reports.
var gpuSignalNeeds = [reportv1.NumGPUSignals]string{
	reportv1.GPUUtilization:      " (MIG slices have none: use smActivity)",
	reportv1.GPUSMActivity:       " (GPM: Hopper and newer)",
	reportv1.GPUSMOccupancy:      " (GPM: Hopper and newer)",
	reportv1.GPUTensorActivity:   " (GPM: Hopper and newer)",
	reportv1.GPUPowerUtilization: " (MIG slices share their GPU's power)",
}

// unattributedGPUs names the first pod whose agent reported more GPUs than the pod requests
// without knowing which are the pod's.
func unattributedGPUs(e *evaluator) error {
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		if p.Terminating || p.Phase == corev1.PodFailed {
			continue // ignored, as by every metric
		}
		st, ok := e.win.Pods[p.Name]
		if !ok || !st.HasGPU || !st.GPU.Unattributed || int64(st.GPU.Devices) <= p.GPUs {
			continue
		}
		return fmt.Errorf("pod %s: its agent reads %d GPUs of its node and cannot tell which %s the pod's: "+
			"give the pod its GPUs through a ResourceClaim (DRA), or let the agent ask the kubelet "+
			"(webhook flag --gpu-pod-resources, pod annotation inferscale.io/gpu-pod-resources: \"true\")",
			p.Name, st.GPU.Devices, gpuCount(p.GPUs))
	}
	return nil
}

func gpuCount(n int64) string {
	if n == 1 {
		return "one is"
	}
	return strconv.FormatInt(n, 10) + " are"
}
