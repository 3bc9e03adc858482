package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
	"github.com/inferscale/inferscale/scaler/window"
)

// gathered renders every series (histograms aside) of reg whose name has prefix as `name{label="value",...} value`, sorted.
func gathered(t *testing.T, reg *prometheus.Registry, prefix string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), prefix) || mf.GetType() == dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", mf.GetName(), strings.Join(ls, ","), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}

func TestMetricsByUnit(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	policy := types.NamespacedName{Namespace: "ai", Name: "llama"}
	d := &decision.Decision{
		CurrentReplicas: 2, DesiredReplicas: 4, Recommendation: 4, DrivingMetric: "Latency p99", Burst: true,
		Metrics: []v1alpha1.MetricStatus{
			{Type: v1alpha1.LatencyMetricType, Name: "p99", Current: "812ms", Target: "500ms", RecommendedReplicas: 4},
			{Type: v1alpha1.QueueDepthMetricType, Current: "3.5", Target: "4", RecommendedReplicas: 2},
			{Type: v1alpha1.GPUMetricType, Name: "smActivity", Current: "62.5%", Target: "80%", RecommendedReplicas: 2},
			{Type: v1alpha1.ResourceMetricType, Name: "cpu", Current: "90% (450m/replica)", Target: "80%", RecommendedReplicas: 3},
			{Type: v1alpha1.ResourceMetricType, Name: "memory", Current: "1Gi", Target: "2Gi", RecommendedReplicas: 1},
			{Type: v1alpha1.ModelMetricType, Name: "vllm:num_requests_waiting", Target: "5"}, // no data: no value
		},
	}
	m.observe(policy, d)
	got := gathered(t, reg, "inferscale_scaler_metric_")
	want := []string{
		`inferscale_scaler_metric_driving{metric="",namespace="ai",policy="llama",type="QueueDepth"} 0`,
		`inferscale_scaler_metric_driving{metric="cpu",namespace="ai",policy="llama",type="Resource"} 0`,
		`inferscale_scaler_metric_driving{metric="memory",namespace="ai",policy="llama",type="Resource"} 0`,
		`inferscale_scaler_metric_driving{metric="p99",namespace="ai",policy="llama",type="Latency"} 1`,
		`inferscale_scaler_metric_driving{metric="smActivity",namespace="ai",policy="llama",type="GPU"} 0`,
		`inferscale_scaler_metric_driving{metric="vllm:num_requests_waiting",namespace="ai",policy="llama",type="ModelMetric"} 0`,
		`inferscale_scaler_metric_recommended_replicas{metric="",namespace="ai",policy="llama",type="QueueDepth"} 2`,
		`inferscale_scaler_metric_recommended_replicas{metric="cpu",namespace="ai",policy="llama",type="Resource"} 3`,
		`inferscale_scaler_metric_recommended_replicas{metric="memory",namespace="ai",policy="llama",type="Resource"} 1`,
		`inferscale_scaler_metric_recommended_replicas{metric="p99",namespace="ai",policy="llama",type="Latency"} 4`,
		`inferscale_scaler_metric_recommended_replicas{metric="smActivity",namespace="ai",policy="llama",type="GPU"} 2`,
		`inferscale_scaler_metric_recommended_replicas{metric="vllm:num_requests_waiting",namespace="ai",policy="llama",type="ModelMetric"} 0`,
		`inferscale_scaler_metric_target{metric="",namespace="ai",policy="llama",type="QueueDepth"} 4`,
		`inferscale_scaler_metric_target{metric="memory",namespace="ai",policy="llama",type="Resource"} 2.147483648e+09`,
		`inferscale_scaler_metric_target{metric="vllm:num_requests_waiting",namespace="ai",policy="llama",type="ModelMetric"} 5`,
		`inferscale_scaler_metric_target_ratio{metric="cpu",namespace="ai",policy="llama",type="Resource"} 0.8`,
		`inferscale_scaler_metric_target_ratio{metric="smActivity",namespace="ai",policy="llama",type="GPU"} 0.8`,
		`inferscale_scaler_metric_target_seconds{metric="p99",namespace="ai",policy="llama",type="Latency"} 0.5`,
		`inferscale_scaler_metric_value{metric="",namespace="ai",policy="llama",type="QueueDepth"} 3.5`,
		`inferscale_scaler_metric_value{metric="memory",namespace="ai",policy="llama",type="Resource"} 1.073741824e+09`,
		`inferscale_scaler_metric_value_ratio{metric="cpu",namespace="ai",policy="llama",type="Resource"} 0.9`,
		`inferscale_scaler_metric_value_ratio{metric="smActivity",namespace="ai",policy="llama",type="GPU"} 0.625`,
		`inferscale_scaler_metric_value_seconds{metric="p99",namespace="ai",policy="llama",type="Latency"} 0.812`,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := gathered(t, reg, "inferscale_scaler_burst"); !slices.Equal(got, []string{`inferscale_scaler_burst{namespace="ai",policy="llama"} 1`}) {
		t.Errorf("burst: %v", got)
	}

	// A metric taken out of the spec loses its series; the others keep theirs.
	d.Metrics = d.Metrics[:1]
	m.observe(policy, d)
	got = gathered(t, reg, "inferscale_scaler_metric_")
	want = []string{
		`inferscale_scaler_metric_driving{metric="p99",namespace="ai",policy="llama",type="Latency"} 1`,
		`inferscale_scaler_metric_recommended_replicas{metric="p99",namespace="ai",policy="llama",type="Latency"} 4`,
		`inferscale_scaler_metric_target_seconds{metric="p99",namespace="ai",policy="llama",type="Latency"} 0.5`,
		`inferscale_scaler_metric_value_seconds{metric="p99",namespace="ai",policy="llama",type="Latency"} 0.812`,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after removing metrics: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	m.forget(policy)
	if got := gathered(t, reg, "inferscale_scaler_"); len(got) != 0 {
		t.Errorf("series left after forget: %v", got)
	}
}

func TestPodsWithoutReports(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	policy := types.NamespacedName{Namespace: "ai", Name: "llama"}
	in := &decision.Input{
		Pods: []decision.Pod{
			{Name: "a", Ready: corev1.ConditionTrue},
			{Name: "b", Ready: corev1.ConditionTrue}, // ready, never reported: no agent
			{Name: "c", Ready: corev1.ConditionFalse},
			{Name: "d", Ready: corev1.ConditionTrue, Terminating: true},
		},
		Stable: window.Snapshot{Pods: map[string]window.PodStats{"a": {}}},
	}
	m.observePods(policy, in, true)
	got := gathered(t, reg, "inferscale_scaler_")
	want := []string{
		`inferscale_scaler_pods_without_reports{namespace="ai",policy="llama"} 1`,
		`inferscale_scaler_reporting_pods{namespace="ai",policy="llama"} 1`,
		`inferscale_scaler_target_pods{namespace="ai",policy="llama",state="ready"} 2`,
		`inferscale_scaler_target_pods{namespace="ai",policy="llama",state="terminating"} 1`,
		`inferscale_scaler_target_pods{namespace="ai",policy="llama",state="unready"} 1`,
		`inferscale_scaler_window_covered_seconds{namespace="ai",policy="llama"} 0`,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A policy on cpu alone expects no reports: no series.
	m.observePods(policy, in, false)
	if got := gathered(t, reg, "inferscale_scaler_pods_without_reports"); len(got) != 0 {
		t.Errorf("policy without agent metrics: %v", got)
	}
}

func TestParseValue(t *testing.T) {
	for _, c := range []struct {
		s    string
		u    unit
		want float64
		ok   bool
	}{
		{"812ms", unitSeconds, 0.812, true},
		{"1.5s", unitSeconds, 1.5, true},
		{"80%", unitRatio, 0.8, true},
		{"90% (450m/replica)", unitRatio, 0.9, true},
		{"80", unitRatio, 0, false},
		{"4500m", unitRaw, 4.5, true},
		{"", unitRaw, 0, false},
		{"12 requests < minRequests 20", unitSeconds, 0, false},
	} {
		got, ok := parseValue(c.s, c.u)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseValue(%q, %d) = %v, %v; want %v, %v", c.s, c.u, got, ok, c.want, c.ok)
		}
	}
}
