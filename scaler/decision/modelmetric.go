package decision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// modelMetric is a gauge the model server exports itself (vllm:num_requests_waiting, …), as
// the agents scrape it, per ready pod. A pod that does not export it is missing data; when no
// ready pod reports it, the metric is invalid with FailedGetModelMetric and a message that says
// which pods lack it and why, as their agents told.
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
		return
	}
	if why := absentGauge(e, name); why != "" {
		ev.err, ev.failReason = fmt.Errorf("no ready pod reports it: %s", why), v1alpha1.ReasonFailedGetModelMetric
	}
}

// maxPodsNamed bounds the pods a message names per cause; the rest are counted.
const maxPodsNamed = 3

// absentCauses are the causes a message names, in its order, with what each says.
var absentCauses = []struct{ why, says string }{
	{reportv1.ScrapeNotExported, "the model server does not export it (check the name against its /metrics)"},
	{reportv1.ScrapeNoValue, "the model server exports it without a value (NaN)"},
	{reportv1.ScrapeWrongType, "it is a histogram or summary, not a gauge"},
	{window.AbsentScrapeFailed, "the agent cannot scrape the model's metrics endpoint"},
	{window.AbsentNotScraped, "the agent was not told to scrape it: the pod was created before a policy named it (restart the pods: kubectl rollout restart)"},
	{window.AbsentUnexplained, "the agent does not say why (an agent older than the scaler)"},
}

// absentGauge says why the target's reporting pods lack gauge name, grouped by cause, each
// with at most maxPodsNamed pod names and the first scrape error; "" when no pod with reports
// says anything of it (then the generic error stands).
func absentGauge(e *evaluator, name string) string {
	pods := map[string][]string{}
	firstErr := ""
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		if p.Terminating || p.Phase == corev1.PodFailed {
			continue // ignored, as by every metric
		}
		st, ok := e.win.Pods[p.Name]
		if !ok {
			continue
		}
		why := st.ModelScrape.Absent[name]
		if why == "" {
			continue
		}
		if !slices.ContainsFunc(absentCauses, func(c struct{ why, says string }) bool { return c.why == why }) {
			why = window.AbsentUnexplained // a reason of a newer agent: no words for it here
		}
		if why == window.AbsentScrapeFailed && firstErr == "" {
			firstErr = st.ModelScrape.Error
		}
		pods[why] = append(pods[why], p.Name)
	}
	var parts []string
	for _, c := range absentCauses {
		names := pods[c.why]
		if len(names) == 0 {
			continue
		}
		slices.Sort(names)
		part := podList(names) + ": " + c.says
		if c.why == window.AbsentScrapeFailed && firstErr != "" {
			part += " (" + strconv.Quote(firstErr) + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// podList names at most maxPodsNamed pods and counts the rest.
func podList(names []string) string {
	word := "pod "
	if len(names) > 1 {
		word = "pods "
	}
	if len(names) <= maxPodsNamed {
		return word + strings.Join(names, ", ")
	}
	return word + strings.Join(names[:maxPodsNamed], ", ") + " and " + strconv.Itoa(len(names)-maxPodsNamed) + " more"
}
