package decision

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

func modelMetricSpec(name, target string) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: name, AverageValue: resource.MustParse(target)}}
}

// modelInput is ready pods whose windows hold the given scrape states (nil: the pod reports
// the gauge at value 2).
func modelInput(spec *v1alpha1.AutoscalingPolicySpec, states ...*window.ModelScrape) *Input {
	pods := agentPods(len(states))
	in := agentInput(spec, int32(len(states)), pods, nil, nil)
	for i, sc := range states {
		st := window.PodStats{Seconds: 60}
		if sc == nil {
			st.ModelMetrics = map[string]float64{"vllm:num_requests_waiting": 2}
		} else {
			st.ModelScrape = *sc
		}
		in.Stable.Pods[pods[i].Name], in.Burst.Pods[pods[i].Name] = st, st
	}
	return in
}

func absent(why string) *window.ModelScrape {
	return &window.ModelScrape{Absent: map[string]string{"vllm:num_requests_waiting": why}}
}

// When no ready pod reports the gauge, the metric is invalid with FailedGetModelMetric, and the
// message names the gauge and each cause with its pods: what to fix is in the condition.
func TestModelMetricNoPodReportsIt(t *testing.T) {
	failing := absent(window.AbsentScrapeFailed)
	failing.Error = "scraping model metrics http://127.0.0.1:8000/metrics: status 404"
	for _, tt := range []struct {
		name   string
		states []*window.ModelScrape
		want   []string
	}{
		{"not exported", []*window.ModelScrape{absent(reportv1.ScrapeNotExported), absent(reportv1.ScrapeNotExported)},
			[]string{"pods test-pod-0, test-pod-1: the model server does not export it"}},
		{"not told", []*window.ModelScrape{absent(window.AbsentNotScraped)},
			[]string{"pod test-pod-0: the agent was not told to scrape it", "created before a policy named it", "rollout restart"}},
		{"scrape fails", []*window.ModelScrape{failing, absent(reportv1.ScrapeWrongType)},
			[]string{"pod test-pod-1: it is a histogram or summary", `pod test-pod-0: the agent cannot scrape the model's metrics endpoint ("scraping model metrics http://127.0.0.1:8000/metrics: status 404")`}},
		{"no value", []*window.ModelScrape{absent(reportv1.ScrapeNoValue)}, []string{"exports it without a value"}},
		{"old agent", []*window.ModelScrape{absent(window.AbsentUnexplained)}, []string{"does not say why"}},
		{"a newer agent's reason", []*window.ModelScrape{absent("Throttled")}, []string{"does not say why"}},
	} {
		d := (&Autoscaler{}).Decide(modelInput(policy(1, 10, modelMetricSpec("vllm:num_requests_waiting", "5")), tt.states...), t0)
		checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonFailedGetModelMetric)
		msg := condition(d, v1alpha1.ScalingActive).Message
		for _, w := range append(tt.want, "ModelMetric vllm:num_requests_waiting: no ready pod reports it") {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", tt.name, msg, w)
			}
		}
		if !d.Hold || d.DesiredReplicas != int32(len(tt.states)) {
			t.Errorf("%s: desired %d hold %v, want a hold", tt.name, d.DesiredReplicas, d.Hold)
		}
	}
}

// The message stays bounded with many pods: three named per cause, the rest counted.
func TestModelMetricMessageIsBounded(t *testing.T) {
	states := make([]*window.ModelScrape, 50)
	for i := range states {
		states[i] = absent(reportv1.ScrapeNotExported)
	}
	d := (&Autoscaler{}).Decide(modelInput(policy(1, 100, modelMetricSpec("vllm:num_requests_waiting", "5")), states...), t0)
	msg := condition(d, v1alpha1.ScalingActive).Message
	if !strings.Contains(msg, "test-pod-0, test-pod-1, test-pod-10 and 47 more") || strings.Count(msg, "test-pod-") != 3 {
		t.Errorf("message %q does not name three pods and count the rest", msg)
	}
}

// A gauge some pods report is valid (the others are missing pods, as in HPA); a window with no
// scrape status at all keeps HPA's words and FailedGetAgentMetric.
func TestModelMetricSomePodsReportIt(t *testing.T) {
	d := (&Autoscaler{}).Decide(modelInput(policy(1, 10, modelMetricSpec("vllm:num_requests_waiting", "1")), nil, absent(reportv1.ScrapeNotExported)), t0)
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionTrue, v1alpha1.ReasonValidMetricFound)
	if d.Metrics[0].Current != "2" {
		t.Errorf("current %q, want 2 (the pod that reports it)", d.Metrics[0].Current)
	}

	in := modelInput(policy(1, 10, modelMetricSpec("vllm:num_requests_waiting", "1")), &window.ModelScrape{})
	d = (&Autoscaler{}).Decide(in, t0)
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonFailedGetAgentMetric)
	if msg := condition(d, v1alpha1.ScalingActive).Message; !strings.Contains(msg, "did not receive metrics") {
		t.Errorf("message %q", msg)
	}
}
