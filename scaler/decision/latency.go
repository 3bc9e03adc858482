package decision

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// latencyMetric is a percentile of the window's merged latency (or time-to-first-byte) sketch
// against its target. It sizes the target from demand ÷ the capacity per replica it learned
// (see capacity), with the percentile as the guard: no scale-down while it is over target.
// Until it has learned anything it is HPA's object-metric rule: the ratio times the ready pods.
type latencyMetric struct{}

func init() { registerMetricType(v1alpha1.LatencyMetricType, latencyMetric{}) }

func (latencyMetric) fromAgents(*v1alpha1.MetricSpec) bool { return true }

func (latencyMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.Latency == nil {
		return 0, false
	}
	ev.label = "p" + formatFloat(m.Latency.Percentile)
	switch {
	case m.Latency.TimeToFirstByte:
		ev.label += " TTFB"
	case m.Latency.TimePerOutputToken:
		ev.label += " TPOT"
	}
	ev.status.Name = ev.label
	ev.driving = "Latency " + ev.label
	ev.target = m.Latency.Target.Duration.String()
	return m.Latency.Target.Seconds(), true
}

func (latencyMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	sk := sketchOf(e.win, m)
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
	done, refused, growth, draining, n := e.served()
	c := e.capacityOf(ev.driving)
	if c != nil && e.learn && n > 0 {
		c.observe(observation{
			rate: done / float64(n), p: v, target: target,
			steady:  e.steady() && growth >= 0 && !draining,
			fresh:   e.freshOver(m, target, minRequests),
			backlog: backlog(done, refused, growth),
			now:     e.now, window: e.win.Window,
		})
	}
	var per float64
	if c != nil {
		per = c.perReplica(target)
	}
	if per == 0 {
		// Nothing learned yet (no traffic served within target): HPA's object-metric rule,
		// except that pods still starting are the answer already given to this latency.
		ev.replicas = objectReplicas(e.cur, ev.ratio, e.ready, e.tol)
		ev.demand = ceilReplicas(ev.ratio * float64(e.ready))
		if e.ready < int(e.cur) {
			ev.replicas, ev.demand = min(ev.replicas, e.cur), min(ev.demand, e.cur)
		}
		return
	}
	// Size from demand ÷ capacity; starting pods are part of e.cur, so they count as the
	// capacity they will be once Ready and a slow start asks for nothing twice.
	rate := done + refused + max(growth, 0)
	want := rate / per
	ev.demand, ev.sized = ceilReplicas(want), true
	ev.replicas = ev.demand
	if e.cur > 0 && e.tol.within(want/float64(e.cur)) {
		ev.replicas = e.cur
	}
	if v > target && ev.replicas < e.cur {
		// The guard: no scale-down while the percentile is over target.
		ev.replicas = e.cur
	}
	ev.current += fmt.Sprintf(" (demand %s/s ÷ %s/s per replica)", formatFloat(rate), formatFloat(per))
}

// served returns what the ready pods with data saw over e's window: completions per second,
// refusals per second (requests their agents refused, queue full), the growth per second of
// what they hold in flight (a backlog building up is demand not yet served; negative while
// one drains), whether a pod drained a backlog in the window (its latencies are those of
// requests queued before, not of the load now), and how many they are.
func (e *evaluator) served() (done, refused, growth float64, draining bool, n int) {
	// The window's average stands half the window before now, its newest second half a second
	// before now: their difference over that span is the trend of a ramp, and a step already
	// shows after a few seconds, which a difference of two windows' averages (the stable one
	// centred half a minute back) would show only damped tenfold.
	span := (e.win.Window.Seconds() - 1) / 2
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		st, has := e.win.Pods[p.Name]
		if e.classify(p, has, readyCondition, ResourceUsage{}) != podReady {
			continue
		}
		done += st.RequestRate
		refused += st.RejectedRate
		n++
		// Only pods that reported for the whole window: a pod that just joined fills its
		// batch from new requests, which is no backlog.
		if span > 0 && st.Seconds >= fullCoverage*e.win.Window.Seconds() {
			growth += (st.InFlightLast - st.InFlight) / span
		}
		// A sum over pods would hide one pod's drain behind the others filling their
		// batches, as when new pods join an overloaded one.
		if st.InFlight-st.InFlightLast > max(drainMin, st.InFlight/2) {
			draining = true
		}
	}
	return done, refused, growth, draining, n
}

// drainMin is the fewest requests in flight a pod must have shed over a window, beyond half
// of what it held on average, for its backlog to count as draining.
const drainMin = 2

// backlog reports whether the ready pods' agents refused requests or what they hold in flight
// grew by more than backlogShare of what they completed: their sketch then misses the
// requests still queued (a time to first byte is known only once the byte is), so a
// percentile within target flatters.
func backlog(done, refused, growth float64) bool {
	return refused > 0 || growth > backlogShare*done
}

// backlogShare is the growth of the requests in flight, as a share of the completion rate,
// above which a window is building a backlog. A ramp's in-flight grows too (Little's law: by
// the latency times the rate's rise), far more slowly than a backlog's.
const backlogShare = 0.1

// freshOver reports whether the latency metric m is over target in the burst window too, the
// newest seconds. When that window has too few requests to say, it is fresh only if the
// stable window's own rate would not fill it either (a target this quiet shows nothing
// fresher); otherwise the load that violated has stopped, and its requests are of the past.
func (e *evaluator) freshOver(m *v1alpha1.MetricSpec, target float64, minRequests uint64) bool {
	sk := sketchOf(&e.in.Burst, m)
	if sk.Count() < minRequests {
		stable, burst := e.win.Window.Seconds(), e.in.Burst.Window.Seconds()
		return !(stable > 0) || float64(sketchOf(e.win, m).Count())*burst/stable < float64(minRequests)
	}
	v, ok := sk.Quantile(m.Latency.Percentile / 100)
	return !ok || v > target
}

// sketchOf is the sketch of w that the latency metric m reads: time to first byte, time per
// output token or the whole request's.
func sketchOf(w *Window, m *v1alpha1.MetricSpec) *reportv1.Sketch {
	switch {
	case m.Latency.TimeToFirstByte:
		return &w.TimeToFirstByte
	case m.Latency.TimePerOutputToken:
		return &w.TimePerOutputToken
	}
	return &w.Latency
}

// steady reports whether every pod of the target has been Ready for the whole window.
func (e *evaluator) steady() bool {
	if e.ready != int(e.cur) {
		return false
	}
	since := e.now.Add(-e.win.Window)
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		if p.Ready == corev1.ConditionTrue && p.ReadyTransition.After(since) {
			return false
		}
	}
	return true
}

// fullCoverage is the share of a window a pod's reports must cover for it to count in the
// backlog's growth.
const fullCoverage = 0.9

// capacityOf returns what the latency metric named key learned, creating it when this
// evaluation learns; nil when the evaluator keeps no capacities.
func (e *evaluator) capacityOf(key string) *capacity {
	if e.capacities == nil {
		return nil
	}
	c := e.capacities[key]
	if c == nil && e.learn {
		c = &capacity{}
		e.capacities[key] = c
	}
	return c
}
