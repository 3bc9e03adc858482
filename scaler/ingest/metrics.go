package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ingest metrics.
type Metrics struct {
	reports      *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	agentDropped prometheus.Counter
	clamped      *prometheus.CounterVec
}

// NewMetrics creates the ingest metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_reports_total",
			Help: "Reports received, by result (accepted, refused) and reason of refusal.",
		}, []string{"result", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "inferscale_scaler_report_ingest_seconds",
			Help:    "Time to handle one report, from the request to the answer, by result.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16), // 25µs .. 0.8s
		}, []string{"result"}),
		agentDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "inferscale_scaler_agent_dropped_reports_total",
			Help: "Reports the agents say they dropped before delivering one (from droppedReports).",
		}),
		clamped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_report_values_clamped_total",
			Help: "Values of accepted reports that were out of range and clamped, by field.",
		}, []string{"field"}),
	}
	reg.MustRegister(m.reports, m.latency, m.agentDropped, m.clamped)
	return m
}

func (m *Metrics) observe(result, reason string, d time.Duration) {
	m.reports.WithLabelValues(result, reason).Inc()
	m.latency.WithLabelValues(result).Observe(d.Seconds())
}
