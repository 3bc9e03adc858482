package controller

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
)

// BenchmarkDecideTick is the in-memory part of one tick for 1,000 policies of 5 pods each,
// with full 60 s windows: both windows of every target and one decision per policy (latency
// p99 and queue depth). The Kubernetes I/O of a tick (a /scale read per policy, informer
// reads) is not included.
func BenchmarkDecideTick(b *testing.B) {
	const policies, podsPer = 1000, 5
	clk := clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0))
	store := window.NewStore(clk)
	spec := (&v1alpha1.AutoscalingPolicySpec{
		MaxReplicas: 20,
		Metrics: []v1alpha1.MetricSpec{
			{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{Percentile: 99, Target: metav1.Duration{Duration: 500 * time.Millisecond}}},
			{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("4")}},
		},
	}).Defaulted()
	keys := make([]target.Key, policies)
	pods := make([]decision.Pod, podsPer)
	for i := range pods {
		pods[i] = decision.Pod{Name: fmt.Sprintf("p%d", i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue,
			StartTime: clk.Now().Add(-time.Hour), ReadyTransition: clk.Now().Add(-time.Hour)}
	}
	rep := &reportv1.Report{Interval: reportv1.Interval{Start: clk.Now(), End: clk.Now().Add(time.Second)}, InFlight: reportv1.Gauge{Average: 3}}
	for j := range 20 {
		rep.Latency.Add(0.05 * float64(j+1))
	}
	rep.Requests.Status2xx = 20
	for i := range keys {
		keys[i] = target.Key{Namespace: "ai", Group: "apps", Kind: "Deployment", Name: fmt.Sprint("m", i)}
		store.Configure(keys[i], window.ConfigFor(spec))
	}
	for range 60 {
		clk.Step(time.Second)
		for _, k := range keys {
			for _, p := range pods {
				if err := store.Record(k, window.Pod{Name: p.Name, UID: p.Name}, rep); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	autoscalers := make([]decision.Autoscaler, policies)
	b.ReportAllocs()
	for b.Loop() {
		now := clk.Now()
		for i, k := range keys {
			in := decision.Input{Spec: spec, CurrentReplicas: podsPer, Pods: pods, Covered: store.Covered(k)}
			in.Stable, _ = store.Window(k, time.Duration(*spec.StableWindowSeconds)*time.Second)
			in.Burst, _ = store.Window(k, time.Duration(*spec.Burst.WindowSeconds)*time.Second)
			autoscalers[i].Decide(&in, now)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/tick")
}
