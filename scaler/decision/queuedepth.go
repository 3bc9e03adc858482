package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// QueueDepth is the agents' in-flight gauge per ready pod, which already counts the requests
// waiting in the agent's queue.
func init() {
	registerMetricType(v1alpha1.QueueDepthMetricType, averageValueMetric{
		label: "queue depth", driving: "QueueDepth", unit: "/replica",
		source: func(m *v1alpha1.MetricSpec) *v1alpha1.AverageValueMetricSource { return m.QueueDepth },
		value:  func(s window.PodStats) (float64, bool) { return s.InFlight, true },
	})
}
