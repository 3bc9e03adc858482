package decision

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

// HPA's kube-controller-manager defaults for --horizontal-pod-autoscaler-cpu-initialization-period
// and --horizontal-pod-autoscaler-initial-readiness-delay.
const (
	defaultCPUInitializationPeriod       = 5 * time.Minute
	defaultDelayOfInitialReadinessStatus = 30 * time.Second
)

// Condition reasons of ScalingActive=False for a metric that could not be computed; all but
// the agents' one are HPA's.
const (
	reasonFailedGetResourceMetric = "FailedGetResourceMetric"
	reasonFailedGetAgentMetric    = "FailedGetAgentMetric"
	reasonInvalidMetric           = "InvalidMetricSourceType"
)

// tolerances are HPA's per-direction tolerances (its Tolerances type).
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool {
	return 1.0-t.down <= ratio && ratio <= 1.0+t.up
}

// podClass is where HPA's groupPods puts a pod for one metric.
type podClass int

const (
	podReady podClass = iota
	podUnready
	podMissing
	podIgnored
)

// readinessRule says how a pod with data is judged ready, by metric.
type readinessRule int

const (
	// readyCondition: the agents' metrics; only a Ready pod serves traffic.
	readyCondition readinessRule = iota
	// cpuRules: HPA's cpu rules with the initialization period.
	cpuRules
	// runningIsReady: HPA's rule for every resource but cpu.
	runningIsReady
)

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
}

var errNoPods = errors.New("no pods returned by selector while calculating replica count")

// classify is HPA's groupPods for one pod.
func (e *evaluator) classify(p *Pod, hasMetric bool, rule readinessRule, sample ResourceUsage) podClass {
	if p.Terminating || p.Phase == corev1.PodFailed {
		return podIgnored
	}
	if p.Phase == corev1.PodPending {
		return podUnready
	}
	if !hasMetric {
		return podMissing
	}
	switch rule {
	case readyCondition:
		if p.Ready != corev1.ConditionTrue {
			return podUnready
		}
	case cpuRules:
		var unready bool
		if p.Ready == "" || p.StartTime.IsZero() {
			unready = true
		} else if p.StartTime.Add(e.cpuInitializationPeriod).After(e.now) {
			// Within the initialization period: ignore the sample if the pod is unready or
			// one metric window has not passed since its last readiness change.
			unready = p.Ready == corev1.ConditionFalse || sample.Timestamp.Before(p.ReadyTransition.Add(sample.Window))
		} else {
			// Ignore the sample if the pod is unready and has never been ready.
			unready = p.Ready == corev1.ConditionFalse && p.StartTime.Add(e.delayOfInitialReadinessStatus).After(p.ReadyTransition)
		}
		if unready {
			return podUnready
		}
	}
	return podReady
}

// podSample is what calcPlainMetricReplicas needs of the grouped pods.
type podSample struct {
	ready, unready, missing int
	sum                     float64 // over the ready pods
}

// plainReplicas is HPA's calcPlainMetricReplicas: the average over the ready pods against
// the target, then the second pass for missing and unready pods. avg is the observed average.
func plainReplicas(cur int32, s podSample, target float64, tol tolerances) (replicas int32, avg, ratio float64, err error) {
	if s.ready == 0 {
		return 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	avg = s.sum / float64(s.ready)
	ratio = avg / target
	scaleUpWithUnready := s.unready > 0 && ratio > 1.0
	if !scaleUpWithUnready && s.missing == 0 {
		if tol.within(ratio) {
			return cur, avg, ratio, nil
		}
		return ceilReplicas(ratio * float64(s.ready)), avg, ratio, nil
	}

	sum, n := s.sum, s.ready
	if s.missing > 0 {
		if ratio < 1.0 {
			// On a scale-down, missing pods count at exactly the target.
			sum += target * float64(s.missing)
			n += s.missing
		} else if ratio > 1.0 {
			// On a scale-up, at zero.
			n += s.missing
		}
	}
	if scaleUpWithUnready {
		n += s.unready
	}
	newRatio := sum / float64(n) / target
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		// Too small a change, or the pods without data flip the direction: hold.
		return cur, avg, ratio, nil
	}
	newReplicas := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1.0 && newReplicas > cur) || (newRatio > 1.0 && newReplicas < cur) {
		return cur, avg, ratio, nil
	}
	return newReplicas, avg, ratio, nil
}

// resourceSample is what GetResourceReplicas needs of the grouped pods, in milli-units.
type resourceSample struct {
	ready, unready, missing int
	usage, requests         int64 // over the ready pods
	// missingUsage is Σ request×max(100,target)/100 over the missing pods (HPA's fallback on
	// a scale-down); missingRequests and unreadyRequests are their requests.
	missingUsage, missingRequests, unreadyRequests int64
}

// utilizationRatio is HPA's GetResourceUtilizationRatio over sums.
func utilizationRatio(usage, requests int64, n int, target int32) (ratio float64, utilization int32, raw int64, err error) {
	if requests == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization = int32(usage * 100 / requests)
	return float64(utilization) / float64(target), utilization, usage / int64(n), nil
}

// resourceReplicas is HPA's GetResourceReplicas after the metrics were fetched.
func resourceReplicas(cur int32, s resourceSample, target int32, tol tolerances) (replicas, utilization int32, raw int64, ratio float64, err error) {
	if s.ready == 0 {
		return 0, 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, utilization, raw, err = utilizationRatio(s.usage, s.requests, s.ready, target)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	scaleUpWithUnready := s.unready > 0 && ratio > 1.0
	if !scaleUpWithUnready && s.missing == 0 {
		if tol.within(ratio) {
			return cur, utilization, raw, ratio, nil
		}
		return ceilReplicas(ratio * float64(s.ready)), utilization, raw, ratio, nil
	}

	usage, requests, n := s.usage, s.requests, s.ready
	if s.missing > 0 {
		if ratio < 1.0 {
			usage += s.missingUsage
			requests += s.missingRequests
			n += s.missing
		} else if ratio > 1.0 {
			requests += s.missingRequests
			n += s.missing
		}
	}
	if scaleUpWithUnready {
		requests += s.unreadyRequests
		n += s.unready
	}
	newRatio, _, _, err := utilizationRatio(usage, requests, n, target)
	if err != nil {
		return 0, utilization, raw, ratio, err
	}
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return cur, utilization, raw, ratio, nil
	}
	newReplicas := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1.0 && newReplicas > cur) || (newRatio > 1.0 && newReplicas < cur) {
		return cur, utilization, raw, ratio, nil
	}
	return newReplicas, utilization, raw, ratio, nil
}

// objectReplicas is HPA's getUsageRatioReplicaCount for a target that is not scaled to zero:
// one value for the whole target against its target, times the ready pods.
func objectReplicas(cur int32, ratio float64, ready int, tol tolerances) int32 {
	if tol.within(ratio) {
		return cur
	}
	return ceilReplicas(ratio * float64(ready))
}

// ceilReplicas rounds up and saturates at MaxInt32, as HPA does for object metrics.
func ceilReplicas(f float64) int32 {
	if !(f < math.MaxInt32) { // also NaN
		return math.MaxInt32
	}
	return int32(math.Ceil(f))
}

// isAgentMetric reports whether m is read from the agents' windows.
func isAgentMetric(m *v1alpha1.MetricSpec) bool {
	return m.Type != v1alpha1.ResourceMetricType || (m.Resource != nil && m.Resource.Name == v1alpha1.GPUResourceName)
}

// evaluate computes one metric's recommendation over the evaluator's window.
func (e *evaluator) evaluate(m *v1alpha1.MetricSpec) evaluation {
	ev := evaluation{window: e.win.Window, failReason: reasonFailedGetAgentMetric}
	agent := isAgentMetric(m)
	if !agent {
		ev.window, ev.failReason = 0, reasonFailedGetResourceMetric
	}
	ev.status.Type = m.Type
	target, ok := e.describe(m, &ev)
	if ev.status.Target == "" {
		ev.status.Target = ev.target
	}
	switch {
	case !ok:
		e.invalid(&ev, "metric of type %s lacks its %s block or its target", m.Type, m.Type)
	case !(target > 0):
		e.invalid(&ev, "%s target must be positive", ev.label)
	case len(e.in.Pods) == 0:
		ev.err = errNoPods
	case agent && len(e.win.Pods) == 0:
		ev.err = fmt.Errorf("no agent reports from the target's pods in the last %s", formatWindow(e.win.Window))
	case m.Type == v1alpha1.LatencyMetricType:
		e.latency(m, target, &ev)
	case !agent:
		e.resource(m, target, &ev)
	default:
		e.average(m, target, &ev)
	}
	ev.status.RecommendedReplicas = ev.replicas
	return ev
}

func (e *evaluator) invalid(ev *evaluation, format string, args ...any) {
	ev.err = fmt.Errorf(format, args...)
	ev.failReason = reasonInvalidMetric
}

// describe fills the names and the target of m, for status and reasons.
func (e *evaluator) describe(m *v1alpha1.MetricSpec, ev *evaluation) (target float64, ok bool) {
	switch m.Type {
	case v1alpha1.LatencyMetricType:
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
	case v1alpha1.QueueDepthMetricType:
		if m.QueueDepth == nil {
			return 0, false
		}
		ev.label, ev.driving = "queue depth", "QueueDepth"
		ev.target = m.QueueDepth.AverageValue.String() + "/replica"
		ev.status.Target = m.QueueDepth.AverageValue.String()
		return m.QueueDepth.AverageValue.AsApproximateFloat64(), true
	case v1alpha1.RequestRateMetricType:
		if m.RequestRate == nil {
			return 0, false
		}
		ev.label, ev.driving = "request rate", "RequestRate"
		ev.target = m.RequestRate.AverageValue.String() + "/s/replica"
		ev.status.Target = m.RequestRate.AverageValue.String()
		return m.RequestRate.AverageValue.AsApproximateFloat64(), true
	case v1alpha1.ModelMetricType:
		if m.ModelMetric == nil {
			return 0, false
		}
		ev.label, ev.driving, ev.status.Name = m.ModelMetric.Name, "ModelMetric "+m.ModelMetric.Name, m.ModelMetric.Name
		ev.target = m.ModelMetric.AverageValue.String() + "/replica"
		ev.status.Target = m.ModelMetric.AverageValue.String()
		return m.ModelMetric.AverageValue.AsApproximateFloat64(), true
	case v1alpha1.GPUMetricType:
		if m.GPU == nil {
			return 0, false
		}
		name := string(m.GPU.Metric)
		if name == "" {
			name = string(v1alpha1.GPUUtilization)
		}
		ev.label, ev.driving, ev.status.Name = "GPU "+name, "GPU "+name, name
		ev.target = strconv.Itoa(int(m.GPU.AverageUtilization)) + "%"
		return float64(m.GPU.AverageUtilization), true
	case v1alpha1.ResourceMetricType:
		if m.Resource == nil {
			return 0, false
		}
		name := string(m.Resource.Name)
		ev.status.Name, ev.driving = name, "Resource "+name
		t := &m.Resource.Target
		switch {
		case t.Type == v1alpha1.UtilizationMetricType && t.AverageUtilization != nil:
			ev.label = name + " utilization"
			ev.target = strconv.Itoa(int(*t.AverageUtilization)) + "%"
			return float64(*t.AverageUtilization), true
		case t.Type == v1alpha1.AverageValueMetricType && t.AverageValue != nil:
			ev.label = name
			ev.target = t.AverageValue.String() + "/replica"
			ev.status.Target = t.AverageValue.String()
			return float64(t.AverageValue.MilliValue()), true
		case t.Type == v1alpha1.ValueMetricType && t.Value != nil:
			ev.label = name + " total"
			ev.target = t.Value.String()
			return float64(t.Value.MilliValue()), true
		}
	}
	return 0, false
}

// average evaluates a per-pod average of the agents' data: QueueDepth, RequestRate,
// ModelMetric, GPU and Resource nvidia.com/gpu.
func (e *evaluator) average(m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	value := podValueOf(m)
	var s podSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		st, has := e.win.Pods[p.Name]
		var v float64
		if has {
			v, has = value.read(&st)
		}
		switch e.classify(p, has, readyCondition, ResourceUsage{}) {
		case podReady:
			s.ready++
			s.sum += v
		case podUnready:
			s.unready++
		case podMissing:
			s.missing++
		}
	}
	replicas, avg, ratio, err := plainReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = err
		return
	}
	ev.replicas, ev.ratio, ev.demand = replicas, ratio, ceilReplicas(ratio*float64(s.ready))
	switch m.Type {
	case v1alpha1.GPUMetricType, v1alpha1.ResourceMetricType:
		ev.current = formatFloat(avg) + "%"
		ev.status.Current = ev.current
	case v1alpha1.RequestRateMetricType:
		ev.current = formatFloat(avg) + "/s/replica"
		ev.status.Current = formatFloat(avg)
	default:
		ev.current = formatFloat(avg) + "/replica"
		ev.status.Current = formatFloat(avg)
	}
}

// podValue says which value of a pod's window statistics a metric reads. It is a value
// with a method rather than a closure so that the statistics read through it stay on the
// stack: this runs for every pod, metric and window of every tick.
type podValue struct {
	kind  podValueKind
	model string // the gauge's name for modelGauge
}

type podValueKind int

const (
	inFlightValue podValueKind = iota
	requestRateValue
	modelGauge
	gpuUtilization
	gpuMemoryUtilization
)

func podValueOf(m *v1alpha1.MetricSpec) podValue {
	switch {
	case m.Type == v1alpha1.QueueDepthMetricType:
		return podValue{kind: inFlightValue}
	case m.Type == v1alpha1.RequestRateMetricType:
		return podValue{kind: requestRateValue}
	case m.Type == v1alpha1.ModelMetricType:
		return podValue{kind: modelGauge, model: m.ModelMetric.Name}
	case m.Type == v1alpha1.GPUMetricType && m.GPU.Metric == v1alpha1.GPUMemoryUtilization:
		return podValue{kind: gpuMemoryUtilization}
	default: // GPU utilization, Resource nvidia.com/gpu
		return podValue{kind: gpuUtilization}
	}
}

// read returns the value and whether the pod has it.
func (v podValue) read(s *window.PodStats) (float64, bool) {
	switch v.kind {
	case inFlightValue:
		return s.InFlight, true
	case requestRateValue:
		return s.RequestRate, true
	case modelGauge:
		x, ok := s.ModelMetrics[v.model]
		return x, ok
	case gpuMemoryUtilization:
		return s.GPUMemoryUtilization, s.HasGPU
	default:
		return s.GPUUtilization, s.HasGPU
	}
}

// latency evaluates a percentile of the window's merged sketch against its target.
func (e *evaluator) latency(m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
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

// resource evaluates cpu or memory from metrics.k8s.io.
func (e *evaluator) resource(m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	name := m.Resource.Name
	usages := e.in.Resources[name]
	if len(usages) == 0 {
		ev.err = fmt.Errorf("unable to get metrics for resource %s: no metrics returned from resource metrics API", name)
		return
	}
	rule := runningIsReady
	if name == corev1.ResourceCPU {
		rule = cpuRules
	}
	t := &m.Resource.Target
	if t.Type == v1alpha1.UtilizationMetricType {
		e.utilization(name, usages, rule, *t.AverageUtilization, ev)
		return
	}
	var s podSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		u, has := usages[p.Name]
		switch e.classify(p, has, rule, u) {
		case podReady:
			s.ready++
			s.sum += float64(u.Value)
		case podUnready:
			s.unready++
		case podMissing:
			s.missing++
		}
	}
	if t.Type == v1alpha1.ValueMetricType {
		// HPA has no Value target for resources; treat the total like an object metric.
		if s.ready == 0 {
			ev.err = errors.New("did not receive metrics for targeted pods (pods might be unready)")
			return
		}
		ev.ratio = s.sum / target
		ev.replicas = objectReplicas(e.cur, ev.ratio, s.ready, e.tol)
		ev.current = quantity(name, int64(s.sum))
		ev.status.Current = ev.current
		return
	}
	replicas, avg, ratio, err := plainReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = fmt.Errorf("failed to get %s usage: %w", name, err)
		return
	}
	ev.replicas, ev.ratio = replicas, ratio
	ev.status.Current = quantity(name, int64(avg))
	ev.current = ev.status.Current + "/replica"
}

// utilization is HPA's computeStatusForResourceMetricGeneric for a Utilization target.
func (e *evaluator) utilization(name corev1.ResourceName, usages map[string]ResourceUsage, rule readinessRule, target int32, ev *evaluation) {
	fallback := int64(max(100, target))
	var s resourceSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		// HPA's calculateRequests needs a request of every pod, ignored ones included.
		req, ok := p.Requests[name]
		if !ok {
			ev.err = fmt.Errorf("failed to get %s utilization: missing request for %s in Pod %s", name, name, p.Name)
			return
		}
		u, has := usages[p.Name]
		switch e.classify(p, has, rule, u) {
		case podReady:
			s.ready++
			s.usage += u.Value
			s.requests += req
		case podUnready:
			s.unready++
			s.unreadyRequests += req
		case podMissing:
			s.missing++
			s.missingRequests += req
			s.missingUsage += req * fallback / 100
		}
	}
	replicas, utilization, raw, ratio, err := resourceReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = fmt.Errorf("failed to get %s utilization: %w", name, err)
		return
	}
	ev.replicas, ev.ratio = replicas, ratio
	ev.current = strconv.Itoa(int(utilization)) + "%"
	ev.status.Current = ev.current + " (" + quantity(name, raw) + "/replica)"
}

// quantity renders a milli-value of a resource as HPA's buildQuantity does.
func quantity(name corev1.ResourceName, milli int64) string {
	format := resource.DecimalSI
	if name == corev1.ResourceMemory {
		format = resource.BinarySI
	}
	return resource.NewMilliQuantity(milli, format).String()
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
