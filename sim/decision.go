package sim

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
)

// Inferscale is the scaler as it runs: the agents' reports go into a window.Store keyed by
// the scaler's clock at arrival, and every tick (1 s) decision.Decide reads the stable and
// burst windows of it, as the controller builds its Input.
type Inferscale struct {
	spec  *v1alpha1.AutoscalingPolicySpec
	clock *clocktesting.FakePassiveClock
	store *window.Store
	key   target.Key
	dec   decision.Autoscaler
	cpu   *metricsServer // only when the policy has a Resource metric

	stable, burst time.Duration
	pods          []decision.Pod
	// OnDecision, when set, sees every decision.
	OnDecision func(now time.Time, d *decision.Decision)
	// Grant, when set, turns a decision into the count written to the target, as the
	// scaler's budgets do (see RunBudget).
	Grant func(now time.Time, st *State, d *decision.Decision) int32
}

// NewInferscale returns the scaler for a policy spec (defaulted here).
func NewInferscale(spec *v1alpha1.AutoscalingPolicySpec) *Inferscale {
	spec = spec.Defaulted()
	a := &Inferscale{
		spec:   spec,
		clock:  clocktesting.NewFakePassiveClock(Epoch),
		key:    target.Key{Namespace: "sim", Group: "apps", Kind: "Deployment", Name: "model"},
		stable: time.Duration(*spec.StableWindowSeconds) * time.Second,
		burst:  time.Duration(*spec.Burst.WindowSeconds) * time.Second,
	}
	a.store = window.NewStore(a.clock)
	a.store.Configure(a.key, window.ConfigFor(spec))
	for _, m := range spec.Metrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU {
			a.cpu = newMetricsServer()
		}
	}
	return a
}

// Name implements Autoscaler.
func (a *Inferscale) Name() string { return "inferscale" }

// Interval implements Autoscaler: the scaler's default tick.
func (a *Inferscale) Interval() time.Duration { return time.Second }

// Observe implements Autoscaler: each report reaches the store when it arrives.
func (a *Inferscale) Observe(now time.Time, s *Second) {
	a.clock.SetTime(now)
	for i := range s.Pods {
		p := &s.Pods[i]
		// Record fails only for an unconfigured target; this one is configured above.
		_ = a.store.Record(a.key, window.Pod{Name: p.Name, UID: p.UID}, p.Report)
	}
	if a.cpu != nil {
		a.cpu.observe(s)
	}
}

// Decide implements Autoscaler.
func (a *Inferscale) Decide(now time.Time, st *State) int32 {
	a.clock.SetTime(now)
	in := decision.Input{
		Spec:            a.spec,
		CurrentReplicas: st.Replicas,
		Pods:            decisionPods(a.pods[:0], st.Pods, false),
		Covered:         a.store.Covered(a.key),
	}
	a.pods = in.Pods
	in.Stable, _ = a.store.Window(a.key, a.stable)
	in.Burst, _ = a.store.Window(a.key, a.burst)
	if a.cpu != nil {
		in.Resources = a.cpu.usage()
	}
	d := a.dec.Decide(&in, now)
	if a.Grant != nil {
		d.DesiredReplicas = a.Grant(now, st, &d)
	}
	if d.DesiredReplicas != st.Replicas {
		a.dec.Scaled(st.Replicas, d.DesiredReplicas, now)
	}
	if a.OnDecision != nil {
		a.OnDecision(now, &d)
	}
	return d.DesiredReplicas
}

// decisionPods converts pods as the controller does from the API objects; readyOnly keeps
// only the Ready ones.
func decisionPods(dst []decision.Pod, pods []PodInfo, readyOnly bool) []decision.Pod {
	for _, p := range pods {
		if readyOnly && (!p.Ready || p.Terminating) {
			continue
		}
		dp := decision.Pod{
			Name: p.Name, Phase: corev1.PodRunning, Ready: corev1.ConditionFalse,
			ReadyTransition: p.Created, StartTime: p.Created, Created: p.Created, Terminating: p.Terminating,
			Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: p.CPURequest},
		}
		if p.Ready {
			dp.Ready, dp.ReadyTransition = corev1.ConditionTrue, p.ReadySince
		}
		dst = append(dst, dp)
	}
	return dst
}

// metricsServer is metrics.k8s.io as metrics-server serves it: it scrapes every pod's
// cumulative cpu usage every 15 s (--metric-resolution) and reports the rate between its last
// two scrapes, stamped with the later one; a pod has no metrics before its second scrape.
type metricsServer struct {
	pods map[string]*cpuSeries
	tick int
}

type cpuSeries struct {
	cum, prevCum float64 // millicore-seconds
	prevAt       time.Time
	scraped      bool
	sample       decision.ResourceUsage
	has          bool
	seen         bool
}

const metricResolution = 15

func newMetricsServer() *metricsServer { return &metricsServer{pods: map[string]*cpuSeries{}} }

func (m *metricsServer) observe(s *Second) {
	m.tick++
	scrape := m.tick%metricResolution == 0
	for _, c := range m.pods {
		c.seen = false
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		c := m.pods[p.Name]
		if c == nil {
			c = &cpuSeries{}
			m.pods[p.Name] = c
		}
		c.seen = true
		c.cum += p.CPU
		if !scrape {
			continue
		}
		if c.scraped {
			w := s.End.Sub(c.prevAt)
			c.sample = decision.ResourceUsage{Value: int64((c.cum - c.prevCum) / w.Seconds()), Timestamp: s.End, Window: w}
			c.has = true
		}
		c.prevCum, c.prevAt, c.scraped = c.cum, s.End, true
	}
	for name, c := range m.pods {
		if !c.seen {
			delete(m.pods, name)
		}
	}
}

func (m *metricsServer) usage() map[corev1.ResourceName]map[string]decision.ResourceUsage {
	u := make(map[string]decision.ResourceUsage, len(m.pods))
	for name, c := range m.pods {
		if c.has {
			u[name] = c.sample
		}
	}
	return map[corev1.ResourceName]map[string]decision.ResourceUsage{corev1.ResourceCPU: u}
}

// HPA is the HorizontalPodAutoscaler at its defaults (15 s sync, tolerance 0.1, scale-down
// stabilization 300 s, HPA's default rate policies), computed by the decision core's port
// of HPA's replica calculator and behavior, on one of two metric pipelines:
//
//   - cpu: a Resource cpu Utilization target, on metrics-server's samples;
//   - waiting: KEDA's Prometheus trigger on vllm:num_requests_waiting as an AverageValue
//     External metric: Prometheus scrapes each pod every 15 s, KEDA polls every 30 s, and
//     HPA divides the sum by the target (ceil(sum/target)).
type HPA struct {
	name  string
	spec  *v1alpha1.AutoscalingPolicySpec
	dec   decision.Autoscaler
	cpu   *metricsServer
	keda  *kedaPoller
	start time.Time
	pods  []decision.Pod
}

// HPACPUTarget is the cpu utilization target of the hpa-cpu baseline: `kubectl autoscale`'s
// default.
const HPACPUTarget = 80

// KEDAWaitingTarget is the vllm:num_requests_waiting target per replica of the keda
// baseline.
const KEDAWaitingTarget = "5"

// NewHPACPU returns the HPA on cpu utilization between minReplicas and maxReplicas.
func NewHPACPU(minReplicas, maxReplicas int32) *HPA {
	u := int32(HPACPUTarget)
	return newHPA("hpa-cpu", minReplicas, maxReplicas, v1alpha1.MetricSpec{
		Type: v1alpha1.ResourceMetricType,
		Resource: &v1alpha1.ResourceMetricSource{Name: corev1.ResourceCPU,
			Target: v1alpha1.MetricTarget{Type: v1alpha1.UtilizationMetricType, AverageUtilization: &u}},
	}, newMetricsServer(), nil)
}

// NewKEDA returns the KEDA-driven HPA on vllm:num_requests_waiting.
func NewKEDA(minReplicas, maxReplicas int32) *HPA {
	return newHPA("keda", minReplicas, maxReplicas, v1alpha1.MetricSpec{
		Type:        v1alpha1.ModelMetricType,
		ModelMetric: &v1alpha1.ModelMetricSource{Name: WaitingMetric, AverageValue: resource.MustParse(KEDAWaitingTarget)},
	}, nil, &kedaPoller{})
}

func newHPA(name string, minReplicas, maxReplicas int32, m v1alpha1.MetricSpec, cpu *metricsServer, keda *kedaPoller) *HPA {
	spec := (&v1alpha1.AutoscalingPolicySpec{MinReplicas: &minReplicas, MaxReplicas: maxReplicas, Metrics: []v1alpha1.MetricSpec{m}}).Defaulted()
	return &HPA{name: name, spec: spec, cpu: cpu, keda: keda, start: Epoch}
}

// Name implements Autoscaler.
func (h *HPA) Name() string { return h.name }

// Interval implements Autoscaler: --horizontal-pod-autoscaler-sync-period.
func (h *HPA) Interval() time.Duration { return 15 * time.Second }

// Observe implements Autoscaler.
func (h *HPA) Observe(now time.Time, s *Second) {
	if h.cpu != nil {
		h.cpu.observe(s)
	}
	if h.keda != nil {
		h.keda.observe(s)
	}
}

// Decide implements Autoscaler.
func (h *HPA) Decide(now time.Time, st *State) int32 {
	in := decision.Input{Spec: h.spec, CurrentReplicas: st.Replicas}
	if h.cpu != nil {
		in.Pods = decisionPods(h.pods[:0], st.Pods, false)
		in.Resources = h.cpu.usage()
	} else {
		// An External metric: no per-pod data, no pod grouping; the ready pods stand for
		// the sum's divisor.
		in.Pods = decisionPods(h.pods[:0], st.Pods, true)
		in.Stable = h.keda.window(in.Pods)
		in.Covered = now.Sub(h.start)
	}
	h.pods = in.Pods
	d := h.dec.Decide(&in, now)
	if d.DesiredReplicas != st.Replicas {
		h.dec.Scaled(st.Replicas, d.DesiredReplicas, now)
	}
	return d.DesiredReplicas
}

// kedaPoller holds Prometheus's last scrape of each pod's gauge (every 15 s) and KEDA's last
// poll of their sum (every 30 s).
type kedaPoller struct {
	tick    int
	scraped map[string]float64
	sum     float64
	polled  bool
}

const (
	promScrapeInterval = 15
	kedaPollInterval   = 30
)

func (k *kedaPoller) observe(s *Second) {
	k.tick++
	if k.tick%promScrapeInterval == 0 {
		if k.scraped == nil {
			k.scraped = map[string]float64{}
		}
		clear(k.scraped)
		for i := range s.Pods {
			if p := &s.Pods[i]; p.Ready {
				k.scraped[p.Name] = float64(p.Waiting)
			}
		}
	}
	if k.tick%kedaPollInterval == 0 && k.scraped != nil {
		k.sum = 0
		for _, v := range k.scraped {
			k.sum += v
		}
		k.polled = true
	}
}

// window presents the polled sum as the decision core's per-pod average: every ready pod
// carries sum/ready, so the core's ceil(average/target × ready) is HPA's ceil(sum/target).
func (k *kedaPoller) window(ready []decision.Pod) decision.Window {
	w := decision.Window{Window: kedaPollInterval * time.Second, Pods: map[string]window.PodStats{}}
	if !k.polled || len(ready) == 0 {
		return w
	}
	avg := k.sum / float64(len(ready))
	for _, p := range ready {
		w.Pods[p.Name] = window.PodStats{Seconds: kedaPollInterval, ModelMetrics: map[string]float64{WaitingMetric: avg}}
	}
	return w
}
