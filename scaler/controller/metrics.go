package controller

import (
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
)

// Metrics export every input and outcome of the decisions, labelled by the policy's namespace
// and name. Metric values are split by unit (seconds, ratios, the metric's own unit), each
// family with a target family beside it, so a value and its target share one axis.
type Metrics struct {
	desired        *prometheus.GaugeVec
	current        *prometheus.GaugeVec
	recommendation *prometheus.GaugeVec
	value          [numUnits]*prometheus.GaugeVec
	target         [numUnits]*prometheus.GaugeVec
	metricReplicas *prometheus.GaugeVec
	driving        *prometheus.GaugeVec
	pods           *prometheus.GaugeVec
	reportingPods  *prometheus.GaugeVec
	unreported     *prometheus.GaugeVec
	covered        *prometheus.GaugeVec
	burst          *prometheus.GaugeVec
	hold           *prometheus.GaugeVec
	scales         *prometheus.CounterVec
	errors         *prometheus.CounterVec
	decision       prometheus.Histogram
	budget         *budgetMetrics

	mu sync.Mutex
	// series are the per-metric label sets last set for each policy, so that a metric
	// removed from a spec loses its series.
	series map[types.NamespacedName][]metricSeries
}

// unit is how a metric's value is exported.
type unit int

const (
	unitSeconds unit = iota // Latency
	unitRatio               // a percentage target (GPU, Resource Utilization), as 0..1
	unitRaw                 // the metric's own unit: requests, requests/s, cores, bytes, a gauge
	numUnits
)

var unitSuffix = [numUnits]string{unitSeconds: "_seconds", unitRatio: "_ratio", unitRaw: ""}

// metricSeries is one metric of a policy as its label values and unit.
type metricSeries struct {
	typ, name string
	unit      unit
}

var (
	policyLabels = []string{"namespace", "policy"}
	metricLabels = []string{"namespace", "policy", "type", "metric"}
)

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inferscale_scaler_" + name, Help: help}, labels)
	}
	m := &Metrics{
		desired:        g("desired_replicas", "Replicas the last decision asked for.", policyLabels),
		current:        g("current_replicas", "Replicas of the target's /scale when last read.", policyLabels),
		recommendation: g("recommended_replicas", "Largest per-metric recommendation before behavior and min/max; 0 without one.", policyLabels),
		metricReplicas: g("metric_recommended_replicas", "What each metric alone recommended.", metricLabels),
		driving:        g("metric_driving", "1 for the metric whose recommendation won (status.drivingMetric), 0 for the others.", metricLabels),
		pods:           g("target_pods", "Pods of the target by state (ready, unready, terminating).", append(policyLabels[:2:2], "state")),
		reportingPods:  g("reporting_pods", "Pods with an agent report in the stable window.", policyLabels),
		unreported: g("pods_without_reports", "Ready pods of a target with no agent report in the stable window, for policies with a metric "+
			"the agents measure: pods without the agent (not injected) or whose agent cannot report.", policyLabels),
		covered: g("window_covered_seconds", "How long the report store has had reports of the target; scale-downs hold until it covers the stable window.", policyLabels),
		burst:   g("burst", "1 while burst mode holds.", policyLabels),
		hold:    g("hold", "1 when a safety rule held the replicas.", policyLabels),
		scales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_scale_events_total", Help: "Writes of /scale, by direction (up, down).",
		}, append(policyLabels[:2:2], "direction")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_tick_errors_total", Help: "Ticks of a policy that failed, by stage (scale_get, pods, scale_update, status, custom_metrics, external_metrics).",
		}, append(policyLabels[:2:2], "stage")),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "inferscale_scaler_decision_seconds", Help: "Time of one policy's decision (its reconcile), API calls included.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
		}),
		series: map[types.NamespacedName][]metricSeries{},
	}
	valueHelp := [numUnits]string{
		unitSeconds: "Observed latency of each Latency metric of the policy; absent without data.",
		unitRatio:   "Observed utilization of each GPU metric and Resource metric with a Utilization target, as a ratio (0.8 is 80 %); absent without data.",
		unitRaw:     "Observed value of each other metric of the policy, in its target's unit (requests or requests/s per replica, cores, bytes, the gauge's own); absent without data.",
	}
	for u := range numUnits {
		m.value[u] = g("metric_value"+unitSuffix[u], valueHelp[u], metricLabels)
		m.target[u] = g("metric_target"+unitSuffix[u], "Target of each metric exported in inferscale_scaler_metric_value"+unitSuffix[u]+", in the same unit.", metricLabels)
	}
	m.budget = newBudgetMetrics(reg)
	reg.MustRegister(m.desired, m.current, m.recommendation, m.metricReplicas, m.driving, m.pods,
		m.reportingPods, m.unreported, m.covered, m.burst, m.hold, m.scales, m.errors, m.decision)
	for u := range numUnits {
		reg.MustRegister(m.value[u], m.target[u])
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observe records one decision of policy.
func (m *Metrics) observe(policy types.NamespacedName, d *decision.Decision) {
	ns, name := policy.Namespace, policy.Name
	m.desired.WithLabelValues(ns, name).Set(float64(d.DesiredReplicas))
	m.current.WithLabelValues(ns, name).Set(float64(d.CurrentReplicas))
	m.recommendation.WithLabelValues(ns, name).Set(float64(d.Recommendation))
	m.burst.WithLabelValues(ns, name).Set(b2f(d.Burst))
	m.hold.WithLabelValues(ns, name).Set(b2f(d.Hold))
	now := make([]metricSeries, 0, len(d.Metrics))
	for _, ms := range d.Metrics {
		s := metricSeries{typ: string(ms.Type), name: ms.Name, unit: unitOf(ms)}
		now = append(now, s)
		m.metricReplicas.WithLabelValues(ns, name, s.typ, s.name).Set(float64(ms.RecommendedReplicas))
		m.driving.WithLabelValues(ns, name, s.typ, s.name).Set(b2f(drivingName(ms) == d.DrivingMetric))
		if v, ok := parseValue(ms.Target, s.unit); ok {
			m.target[s.unit].WithLabelValues(ns, name, s.typ, s.name).Set(v)
		} else {
			m.target[s.unit].DeleteLabelValues(ns, name, s.typ, s.name)
		}
		if v, ok := parseValue(ms.Current, s.unit); ok {
			m.value[s.unit].WithLabelValues(ns, name, s.typ, s.name).Set(v)
		} else {
			m.value[s.unit].DeleteLabelValues(ns, name, s.typ, s.name)
		}
	}
	m.mu.Lock()
	old := m.series[policy]
	m.series[policy] = now
	m.mu.Unlock()
	for _, s := range old {
		if !containsSeries(now, s) {
			m.deleteSeries(ns, name, s)
		}
	}
}

func containsSeries(list []metricSeries, s metricSeries) bool {
	for _, o := range list {
		if o == s {
			return true
		}
	}
	return false
}

func (m *Metrics) deleteSeries(ns, name string, s metricSeries) {
	m.metricReplicas.DeleteLabelValues(ns, name, s.typ, s.name)
	m.driving.DeleteLabelValues(ns, name, s.typ, s.name)
	m.value[s.unit].DeleteLabelValues(ns, name, s.typ, s.name)
	m.target[s.unit].DeleteLabelValues(ns, name, s.typ, s.name)
}

// observePods records the target's pods by state, and how many of the ready ones sent no
// report when agentMetrics says the policy needs them.
func (m *Metrics) observePods(policy types.NamespacedName, in *decision.Input, agentMetrics bool) {
	ns, name := policy.Namespace, policy.Name
	var ready, unready, terminating, unreported int
	for _, p := range in.Pods {
		switch {
		case p.Terminating:
			terminating++
		case p.Ready == corev1.ConditionTrue:
			ready++
			if _, ok := in.Stable.Pods[p.Name]; !ok {
				unreported++
			}
		default:
			unready++
		}
	}
	m.pods.WithLabelValues(ns, name, "ready").Set(float64(ready))
	m.pods.WithLabelValues(ns, name, "unready").Set(float64(unready))
	m.pods.WithLabelValues(ns, name, "terminating").Set(float64(terminating))
	m.reportingPods.WithLabelValues(ns, name).Set(float64(len(in.Stable.Pods)))
	if agentMetrics {
		m.unreported.WithLabelValues(ns, name).Set(float64(unreported))
	} else {
		m.unreported.DeleteLabelValues(ns, name)
	}
	m.covered.WithLabelValues(ns, name).Set(in.Covered.Seconds())
}

// tickError counts a failed stage of a policy's tick.
func (m *Metrics) tickError(policy types.NamespacedName, stage string) {
	m.errors.WithLabelValues(policy.Namespace, policy.Name, stage).Inc()
}

// scaled counts a write of /scale.
func (m *Metrics) scaled(policy types.NamespacedName, direction string) {
	m.scales.WithLabelValues(policy.Namespace, policy.Name, direction).Inc()
}

// drivingName is how status.drivingMetric names the metric: "Latency p99", "QueueDepth".
func drivingName(ms v1alpha1.MetricStatus) string {
	if ms.Name == "" {
		return string(ms.Type)
	}
	return string(ms.Type) + " " + ms.Name
}

// unitOf is the unit a metric's value and target are exported in.
func unitOf(ms v1alpha1.MetricStatus) unit {
	switch {
	case ms.Type == v1alpha1.LatencyMetricType:
		return unitSeconds
	case strings.HasSuffix(ms.Target, "%"):
		return unitRatio
	}
	return unitRaw
}

// parseValue reads a status value back as a number in unit u: a duration ("812ms") in
// seconds, a percentage ("80%") as a ratio, else a quantity ("4500m", "80"). Status holds
// strings so that kubectl shows units; what follows a space ("80% (250m/replica)") is detail.
func parseValue(s string, u unit) (float64, bool) {
	s, _, _ = strings.Cut(s, " ")
	switch {
	case s == "":
		return 0, false
	case u == unitSeconds:
		d, err := time.ParseDuration(s)
		return d.Seconds(), err == nil
	case u == unitRatio:
		p, ok := strings.CutSuffix(s, "%")
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseFloat(p, 64)
		return v / 100, err == nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, false
	}
	return q.AsApproximateFloat64(), true
}

// forget drops every series of a policy that is gone.
func (m *Metrics) forget(policy types.NamespacedName) {
	l := prometheus.Labels{"namespace": policy.Namespace, "policy": policy.Name}
	for _, v := range []*prometheus.GaugeVec{m.desired, m.current, m.recommendation, m.metricReplicas, m.driving, m.pods,
		m.reportingPods, m.unreported, m.covered, m.burst, m.hold} {
		v.DeletePartialMatch(l)
	}
	for u := range numUnits {
		m.value[u].DeletePartialMatch(l)
		m.target[u].DeletePartialMatch(l)
	}
	m.scales.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.mu.Lock()
	delete(m.series, policy)
	m.mu.Unlock()
}
