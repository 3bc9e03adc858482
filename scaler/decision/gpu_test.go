package decision

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

func gpuSpec(metric v1alpha1.GPUMetric, target int32) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.GPUMetricType, GPU: &v1alpha1.GPUMetricSource{Metric: metric, AverageUtilization: target}}
}

// gpuInput is two ready pods requesting one GPU each, with the GPU readings given.
func gpuInput(spec *v1alpha1.AutoscalingPolicySpec, readings ...window.GPUStats) *Input {
	pods := agentPods(len(readings))
	in := agentInput(spec, int32(len(readings)), pods, nil, nil)
	for i, g := range readings {
		pods[i].GPUs = 1
		st := window.PodStats{Seconds: 60, GPU: g, HasGPU: true}
		in.Stable.Pods[pods[i].Name], in.Burst.Pods[pods[i].Name] = st, st
	}
	in.Pods = pods
	return in
}

func TestGPUSignalsTrackLoad(t *testing.T) {
	// Utilization reads 100 on both pods while GPM shows one pod's SMs at 90 %, the other's
	// at 30 %: scaling on smActivity sees the real load.
	both := func(sm float64) window.GPUStats {
		g := gpuStats(reportv1.GPUUtilization, 100)
		g.Signals[reportv1.GPUSMActivity], g.Has[reportv1.GPUSMActivity] = sm, true
		return g
	}
	for _, tt := range []struct {
		metric  v1alpha1.GPUMetric
		want    int32
		current string
	}{
		{v1alpha1.GPUUtilization, 4, "100%"}, // 100/50 × 2
		{v1alpha1.GPUSMActivity, 3, "60%"},   // 60/50 × 2 = 2.4
	} {
		d := (&Autoscaler{}).Decide(gpuInput(policy(1, 10, gpuSpec(tt.metric, 50)), both(90), both(30)), t0)
		if d.Metrics[0].RecommendedReplicas != tt.want || d.Metrics[0].Current != tt.current || d.Metrics[0].Name != string(tt.metric) {
			t.Errorf("%s: %+v, want %d replicas at %s", tt.metric, d.Metrics[0], tt.want, tt.current)
		}
	}
}

func TestGPUSignalNoDeviceReports(t *testing.T) {
	d := (&Autoscaler{}).Decide(gpuInput(policy(1, 10, gpuSpec(v1alpha1.GPUTensorActivity, 50)),
		gpuStats(reportv1.GPUUtilization, 70), gpuStats(reportv1.GPUUtilization, 70)), t0)
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonFailedGetAgentMetric)
	if msg := condition(d, v1alpha1.ScalingActive).Message; !strings.Contains(msg, "report no tensorActivity (GPM: Hopper and newer)") {
		t.Errorf("message %q does not say the signal is missing and where it exists", msg)
	}
}

// An agent that reads more GPUs than its pod requests, and cannot tell which are the pod's,
// makes the metric invalid for GPU and Resource nvidia.com/gpu alike: no node-wide average,
// no other tenant's reading in the status. One that reads no more than the pod requests is
// exact however it was attributed.
func TestGPUUnattributed(t *testing.T) {
	unattributed := func(devices int) window.GPUStats {
		g := gpuStats(reportv1.GPUUtilization, 80)
		g.Unattributed, g.Devices = true, devices
		return g
	}
	resourceGPU := v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
		Name: v1alpha1.GPUResourceName, Target: v1alpha1.MetricTarget{Type: v1alpha1.UtilizationMetricType, AverageUtilization: ptr.To[int32](40)}}}
	for _, spec := range []v1alpha1.MetricSpec{gpuSpec(v1alpha1.GPUUtilization, 40), resourceGPU} {
		d := (&Autoscaler{}).Decide(gpuInput(policy(1, 10, spec), gpuStats(reportv1.GPUUtilization, 80), unattributed(8)), t0)
		checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonGPUUnattributed)
		msg := condition(d, v1alpha1.ScalingActive).Message
		for _, want := range []string{"test-pod-1", "reads 8 GPUs", "which one is the pod's", "ResourceClaim", "--gpu-pod-resources", "inferscale.io/gpu-pod-resources"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: message %q lacks %q", spec.Type, msg, want)
			}
		}
		if d.DesiredReplicas != 2 || !d.Hold || d.Metrics[0].Current != "" {
			t.Errorf("%s: desired %d hold %v status %+v; want a hold at 2 with no value shown", spec.Type, d.DesiredReplicas, d.Hold, d.Metrics[0])
		}

		d = (&Autoscaler{}).Decide(gpuInput(policy(1, 10, spec), unattributed(1), unattributed(1)), t0)
		if d.DesiredReplicas != 4 || d.Metrics[0].Current != "80%" {
			t.Errorf("%s: a node of one GPU, the pod's: desired %d, %+v; want 4 at 80%%", spec.Type, d.DesiredReplicas, d.Metrics[0])
		}
	}

	// A terminating pod's readings no longer count, attributed or not.
	in := gpuInput(policy(1, 10, gpuSpec(v1alpha1.GPUUtilization, 40)), gpuStats(reportv1.GPUUtilization, 80), unattributed(8))
	in.Pods[1].Terminating, in.Pods[1].Phase = true, corev1.PodRunning
	if d := (&Autoscaler{}).Decide(in, t0); condition(d, v1alpha1.ScalingActive).Reason == v1alpha1.ReasonGPUUnattributed {
		t.Errorf("a terminating pod's unattributed GPUs block scaling: %s", d.Reason)
	}
}
