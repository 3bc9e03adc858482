package decision

import (
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// RequestRate is the agents' finished requests per second per ready pod.
func init() {
	registerMetricType(v1alpha1.RequestRateMetricType, averageValueMetric{
		label: "request rate", driving: "RequestRate", unit: "/s/replica",
		source: func(m *v1alpha1.MetricSpec) *v1alpha1.AverageValueMetricSource { return m.RequestRate },
		value:  func(s window.PodStats) (float64, bool) { return s.RequestRate, true },
	})
}
