package decision

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// benchInput is a policy with every kind of metric (latency, queue depth, request rate, a
// model gauge, GPU, cpu) over pods pods.
func benchInput(pods int) *Input {
	model := v1alpha1.MetricSpec{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: "vllm:num_requests_waiting", AverageValue: resource.MustParse("5")}}
	rate := v1alpha1.MetricSpec{Type: v1alpha1.RequestRateMetricType, RequestRate: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("20")}}
	gpu := v1alpha1.MetricSpec{Type: v1alpha1.GPUMetricType, GPU: &v1alpha1.GPUMetricSource{AverageUtilization: 80}}
	spec := policy(1, 1000, latencyP99(500*time.Millisecond, 20), queueDepth("4"), rate, model, gpu, cpuUtilization(70))
	in := agentInput(spec, int32(pods), agentPods(pods), nil, nil)
	usage := map[string]ResourceUsage{}
	for i := 0; i < pods; i++ {
		name := fmt.Sprintf("test-pod-%d", i)
		st := window.PodStats{Seconds: 60, Requests: 1200, RequestRate: 20 + float64(i%7), InFlight: 3 + float64(i%5),
			GPU: gpuStats(reportv1.GPUUtilization, 70+float64(i%20)), HasGPU: true, ModelMetrics: map[string]float64{"vllm:num_requests_waiting": 4}}
		in.Stable.Pods[name] = st
		st.Seconds = 6
		in.Burst.Pods[name] = st
		usage[name] = ResourceUsage{Value: 600 + int64(i%300), Timestamp: t0, Window: time.Minute}
	}
	in.Resources = map[corev1.ResourceName]map[string]ResourceUsage{corev1.ResourceCPU: usage}
	in.Stable.Latency = latencySketch(pods*1200, 0.45)
	in.Burst.Latency = latencySketch(pods*120, 0.45)
	return in
}

// BenchmarkDecide is one decision for one policy with six metrics over 100 pods, one tick a
// second so the stabilization history reaches its steady size.
func BenchmarkDecide(b *testing.B) {
	in := benchInput(100)
	a := &Autoscaler{}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		a.Decide(in, now)
	}
}

// BenchmarkTick1000Policies is one scaler tick: a decision for each of 1,000 policies, each
// with latency, queue-depth and request-rate metrics over 10 pods. ns/op is the time of a
// tick.
func BenchmarkTick1000Policies(b *testing.B) {
	const policies = 1000
	inputs := make([]*Input, policies)
	autoscalers := make([]Autoscaler, policies)
	for i := range inputs {
		in := benchInput(10)
		in.Spec.Metrics = in.Spec.Metrics[:3]
		inputs[i] = in
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		for i := range inputs {
			autoscalers[i].Decide(inputs[i], now)
		}
	}
}
