package decision

import (
	"errors"
	"fmt"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// latencyMetric is a percentile of the window's merged latency (or time-to-first-byte) sketch
// against its target, by HPA's object-metric rule: the ratio times the ready pods.
type latencyMetric struct{}

func init() { registerMetricType(v1alpha1.LatencyMetricType, latencyMetric{}) }

func (latencyMetric) fromAgents(*v1alpha1.MetricSpec) bool { return true }

func (latencyMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.Latency == nil {
		return 0, false
	}
	ev.label = "p" + formatFloat(m.Latency.Percentile)
	if m.Latency.TimeToFirstByte {
		ev.label += " TTFB"
	}
	ev.status.Name = ev.label
	ev.driving = "Latency " + ev.label
	ev.target = m.Latency.Target.Duration.String()
	return m.Latency.Target.Seconds(), true
}

func (latencyMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	sk := &e.win.Latency
	if m.Latency.TimeToFirstByte {
		sk = &e.win.TimeToFirstByte
	}
	minRequests := uint64(v1alpha1.DefaultLatencyMinRequests)
	if m.Latency.MinRequests != nil {
		minRequests = uint64(max(*m.Latency.MinRequests, 1))
	}
	if n := sk.Count(); n < minRequests {
		ev.abstain = true
		ev.current = fmt.Sprintf("%d requests < minRequests %d", n, minRequests)
		return
	}
	v, ok := sk.Quantile(m.Latency.Percentile / 100)
	if !ok {
		e.invalid(ev, "percentile %s is not in (0, 100)", formatFloat(m.Latency.Percentile))
		return
	}
	ev.current = formatSeconds(v)
	ev.status.Current = ev.current
	if e.ready == 0 {
		// HPA would recommend ceil(ratio×0) = 0 here; with nothing serving, high latency is
		// not evidence for fewer pods.
		ev.err = errors.New("no ready pods")
		return
	}
	ev.ratio = v / target
	ev.replicas = objectReplicas(e.cur, ev.ratio, e.ready, e.tol)
	ev.demand = ceilReplicas(ev.ratio * float64(e.ready))
}
