package decision

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// metricType is one type of spec.metrics[] (v1alpha1.MetricType): how its block is named and
// targeted, where its data comes from, and what it recommends. Each type is one file of this
// package that registers its implementation in init with registerMetricType (a per-pod average
// of an AverageValue block is an averageValueMetric); adding a type is adding a file. evaluate does what every type shares (status, a positive target, pods,
// reports in the window for the agents' metrics) before it calls the type's evaluate, and the
// Autoscaler takes the largest recommendation, so a type never sees the others.
type metricType interface {
	// describe fills ev's label, driving, target and status.Name (status.Target when it
	// differs from target) from m and returns the target as a number; ok is false when m lacks
	// its block or its target.
	describe(m *v1alpha1.MetricSpec, ev *evaluation) (target float64, ok bool)
	// fromAgents reports whether m is read from the agents' windows: such a metric needs
	// reports in the window, and burst mode evaluates it over the burst window too. The others
	// read Input.Resources (metrics.k8s.io).
	fromAgents(m *v1alpha1.MetricSpec) bool
	// evaluate sets ev's current value (current, status.Current), ratio, replicas and demand,
	// or ev.err (e.invalid for a spec error), or ev.abstain, from e's window and input. It is
	// called only after describe returned ok with a positive target, with at least one pod.
	evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation)
}

// failReasoner is a metricType whose failures have a ScalingActive reason of their own (HPA's
// FailedGetPodsMetric, ...) rather than FailedGetAgentMetric or FailedGetResourceMetric.
type failReasoner interface{ failReason() string }

// metricTypes holds the registered types by name.
var metricTypes = map[v1alpha1.MetricType]metricType{}

// registerMetricType makes t the implementation of metrics of type name. It runs from the
// init functions of the types' files; registering a name twice is a programming error.
func registerMetricType(name v1alpha1.MetricType, t metricType) {
	if _, dup := metricTypes[name]; dup {
		panic("decision: metric type " + string(name) + " registered twice")
	}
	metricTypes[name] = t
}

// evaluation is one metric's outcome over one window.
type evaluation struct {
	status v1alpha1.MetricStatus
	// driving names the metric in Decision.DrivingMetric, e.g. "Latency p99".
	driving string
	// label, current and target describe it for a reason, e.g. "p99", "812ms", "500ms".
	label, current, target string
	// window is the window the value was taken over; zero for metrics.k8s.io data.
	window time.Duration
	// ratio is observed over target; replicas what the metric recommends.
	ratio    float64
	replicas int32
	// demand is ceil(ratio × the ready pods with data), without tolerance or HPA's second
	// pass: what burst mode compares with its threshold, like Knative's desired pod count.
	demand int32
	// abstain: valid, but too little traffic to recommend anything (latency).
	abstain bool
	// sized: demand is a rate over a learned capacity per replica (latency), not a ratio of
	// what the ready pods hold.
	sized bool
	// err makes the metric invalid; failReason is the ScalingActive reason that goes with it.
	err        error
	failReason string
}

// evaluator evaluates metrics over one window for one decision.
type evaluator struct {
	in    *Input
	win   *Window
	now   time.Time
	tol   tolerances
	cur   int32
	ready int // Running, Ready and not terminating: HPA's getReadyPodsCount

	cpuInitializationPeriod, delayOfInitialReadinessStatus time.Duration

	// capacities are the Autoscaler's, by latency metric (evaluation.driving); learn is
	// true for the one evaluation per tick that updates them, the stable window's.
	capacities map[string]*capacity
	learn      bool
}

var errNoPods = errors.New("no pods returned by selector while calculating replica count")

// isAgentMetric reports whether m is read from the agents' windows. A type that is not
// registered counts as one, and evaluates as invalid.
func isAgentMetric(m *v1alpha1.MetricSpec) bool {
	t, ok := metricTypes[m.Type]
	return !ok || t.fromAgents(m)
}

// evaluate computes one metric's recommendation over the evaluator's window into ev. ev is the
// caller's, not a result, because the metric types take it through an interface: a local would
// escape to the heap for every metric and window of every tick.
func (e *evaluator) evaluate(m *v1alpha1.MetricSpec, ev *evaluation) {
	*ev = evaluation{window: e.win.Window, failReason: v1alpha1.ReasonFailedGetAgentMetric}
	t, known := metricTypes[m.Type]
	agent := !known || t.fromAgents(m)
	if !agent {
		ev.window, ev.failReason = 0, v1alpha1.ReasonFailedGetResourceMetric
	}
	if r, ok := t.(failReasoner); ok {
		ev.failReason = r.failReason()
	}
	ev.status.Type = m.Type
	var target float64
	ok := false
	if known {
		target, ok = t.describe(m, ev)
	}
	if ev.status.Target == "" {
		ev.status.Target = ev.target
	}
	switch {
	case !ok:
		e.invalid(ev, "metric of type %s lacks its %s block or its target", m.Type, m.Type)
	case !(target > 0):
		e.invalid(ev, "%s target must be positive", ev.label)
	case len(e.in.Pods) == 0:
		ev.err = errNoPods
	case agent && len(e.win.Pods) == 0:
		ev.err = fmt.Errorf("no agent reports from the target's pods in the last %s", formatWindow(e.win.Window))
	default:
		t.evaluate(e, m, target, ev)
		ev.checkFinite()
	}
	ev.status.RecommendedReplicas = ev.replicas
}

// checkFinite makes a metric whose value is not a finite number invalid: reports are bounded,
// but a sum or ratio of extreme values must never become MaxInt32 replicas.
func (ev *evaluation) checkFinite() {
	if ev.err != nil || ev.abstain {
		return
	}
	if math.IsNaN(ev.ratio) || math.IsInf(ev.ratio, 0) {
		ev.err = fmt.Errorf("%s is not a finite number (%v)", ev.label, ev.ratio)
		ev.failReason = v1alpha1.ReasonInvalidMetricSourceType
		ev.replicas, ev.demand = 0, 0
	}
}

func (e *evaluator) invalid(ev *evaluation, format string, args ...any) {
	ev.err = fmt.Errorf(format, args...)
	ev.failReason = v1alpha1.ReasonInvalidMetricSourceType
}

// average evaluates a per-pod average of the agents' data (HPA's pods metric, as
// calcPlainMetricReplicas) with value reading one pod's statistics; it returns the average over
// the ready pods, ok false when ev.err was set. The statistics are passed by value so that
// they stay on the stack: this runs for every pod, metric and window of every tick.
func (e *evaluator) average(target float64, ev *evaluation, value func(window.PodStats) (float64, bool)) (avg float64, ok bool) {
	s := e.sample(readyCondition, func(p *Pod) (float64, bool) {
		st, has := e.win.Pods[p.Name]
		if !has {
			return 0, false
		}
		return value(st)
	})
	replicas, avg, ratio, err := plainReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = err
		return 0, false
	}
	ev.replicas, ev.ratio, ev.demand = replicas, ratio, ceilReplicas(ratio*float64(s.ready))
	return avg, true
}

// sample groups the pods as HPA's groupPods does for one metric, read giving a pod's value and
// whether it has one, and sums the values of the ready pods.
func (e *evaluator) sample(rule readinessRule, read func(p *Pod) (float64, bool)) podSample {
	var s podSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		v, has := read(p)
		switch e.classify(p, has, rule, ResourceUsage{}) {
		case podReady:
			s.ready++
			s.sum += v
		case podUnready:
			s.unready++
		case podMissing:
			s.missing++
		}
	}
	return s
}

// averageValueMetric is a metric type whose block is an AverageValueMetricSource and whose
// value is one number of each pod's window statistics, averaged over the ready pods.
type averageValueMetric struct {
	label, driving, unit string // e.g. "queue depth", "QueueDepth", "/replica"
	source               func(*v1alpha1.MetricSpec) *v1alpha1.AverageValueMetricSource
	value                func(window.PodStats) (float64, bool)
}

func (averageValueMetric) fromAgents(*v1alpha1.MetricSpec) bool { return true }

func (t averageValueMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	src := t.source(m)
	if src == nil {
		return 0, false
	}
	ev.label, ev.driving = t.label, t.driving
	ev.target = src.AverageValue.String() + t.unit
	ev.status.Target = src.AverageValue.String()
	return src.AverageValue.AsApproximateFloat64(), true
}

func (t averageValueMetric) evaluate(e *evaluator, _ *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	if avg, ok := e.average(target, ev, t.value); ok {
		perReplica(ev, avg, t.unit)
	}
}

// perReplica sets ev's current value of an average per replica, e.g. "3.5/replica".
func perReplica(ev *evaluation, avg float64, unit string) {
	ev.status.Current = formatFloat(avg)
	ev.current = ev.status.Current + unit
}

// formatFloat renders v with at most two decimals and no trailing zeros.
func formatFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// formatSeconds renders a latency in seconds as a duration of three significant digits or so.
func formatSeconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d >= 10*time.Second:
		d = d.Round(100 * time.Millisecond)
	case d >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Millisecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

// formatWindow renders a window as seconds, the unit of the spec's fields.
func formatWindow(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// UsesAgents reports whether a metric of spec is measured by the agents, so that its target's
// pods are expected to report.
func UsesAgents(spec *v1alpha1.AutoscalingPolicySpec) bool {
	for i := range spec.Metrics {
		if isAgentMetric(&spec.Metrics[i]) {
			return true
		}
	}
	return false
}
