package controller

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferscale/inferscale/scaler/decision"
)

// Metrics export every input and outcome of the decisions, labelled by policy
// ("<namespace>/<name>").
type Metrics struct {
	desired        *prometheus.GaugeVec
	current        *prometheus.GaugeVec
	recommendation *prometheus.GaugeVec
	metricValue    *prometheus.GaugeVec
	metricReplicas *prometheus.GaugeVec
	pods           *prometheus.GaugeVec
	reportingPods  *prometheus.GaugeVec
	covered        *prometheus.GaugeVec
	burst          *prometheus.GaugeVec
	hold           *prometheus.GaugeVec
	scales         *prometheus.CounterVec
	errors         *prometheus.CounterVec
	tick           prometheus.Histogram
	budget         *budgetMetrics
}

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inferscale_scaler_" + name, Help: help}, append([]string{"policy"}, labels...))
	}
	m := &Metrics{
		desired:        g("desired_replicas", "Replicas the last decision asked for."),
		current:        g("current_replicas", "Replicas of the target's /scale when last read."),
		recommendation: g("recommended_replicas", "Largest per-metric recommendation before behavior and min/max; 0 without one."),
		metricValue:    g("metric_value", "Observed value of each metric of the policy, in the unit of its target (seconds for latency); absent without data.", "metric"),
		metricReplicas: g("metric_recommended_replicas", "What each metric alone recommended.", "metric"),
		pods:           g("target_pods", "Pods of the target by state.", "state"),
		reportingPods:  g("reporting_pods", "Pods with a report in the stable window."),
		covered:        g("window_covered_seconds", "How long the report store has had reports of the target; scale-downs hold until it covers the stable window."),
		burst:          g("burst", "1 while burst mode holds."),
		hold:           g("hold", "1 when a safety rule held the replicas."),
		scales: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_scale_events_total", Help: "Writes of /scale, by direction (up, down).",
		}, []string{"policy", "direction"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_tick_errors_total", Help: "Ticks of a policy that failed, by stage (scale_get, pods, scale_update, status, custom_metrics, external_metrics).",
		}, []string{"policy", "stage"}),
		tick: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "inferscale_scaler_tick_seconds", Help: "Time of one tick over every policy.",
			Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
		}),
	}
	m.budget = newBudgetMetrics(reg)
	reg.MustRegister(m.desired, m.current, m.recommendation, m.metricValue, m.metricReplicas, m.pods,
		m.reportingPods, m.covered, m.burst, m.hold, m.scales, m.errors, m.tick)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observe records one decision of policy.
func (m *Metrics) observe(policy string, d *decision.Decision) {
	m.desired.WithLabelValues(policy).Set(float64(d.DesiredReplicas))
	m.current.WithLabelValues(policy).Set(float64(d.CurrentReplicas))
	m.recommendation.WithLabelValues(policy).Set(float64(d.Recommendation))
	m.burst.WithLabelValues(policy).Set(b2f(d.Burst))
	m.hold.WithLabelValues(policy).Set(b2f(d.Hold))
	for _, ms := range d.Metrics {
		name := metricLabel(string(ms.Type), ms.Name)
		m.metricReplicas.WithLabelValues(policy, name).Set(float64(ms.RecommendedReplicas))
		if v, ok := parseValue(ms.Current); ok {
			m.metricValue.WithLabelValues(policy, name).Set(v)
		} else {
			m.metricValue.DeleteLabelValues(policy, name)
		}
	}
}

// metricLabel names a metric of a policy: "Latency/p99", "QueueDepth".
func metricLabel(typ, name string) string {
	if name == "" {
		return typ
	}
	return typ + "/" + name
}

// parseValue reads a status value back as a number: a duration ("812ms") in seconds, else a
// quantity ("4500m", "80"). Status holds strings so that kubectl shows units.
func parseValue(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d.Seconds(), true
	}
	q, err := resource.ParseQuantity(strings.TrimSuffix(s, "%"))
	if err != nil {
		return 0, false
	}
	return q.AsApproximateFloat64(), true
}

// forget drops every series of a policy that is gone.
func (m *Metrics) forget(policy string) {
	l := prometheus.Labels{"policy": policy}
	for _, v := range []*prometheus.GaugeVec{m.desired, m.current, m.recommendation, m.metricValue, m.metricReplicas, m.pods, m.reportingPods, m.covered, m.burst, m.hold} {
		v.DeletePartialMatch(l)
	}
	m.scales.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
}
