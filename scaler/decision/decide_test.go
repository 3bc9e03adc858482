package decision

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/window"
)

func policy(min, max int32, metrics ...v1alpha1.MetricSpec) *v1alpha1.AutoscalingPolicySpec {
	s := &v1alpha1.AutoscalingPolicySpec{MinReplicas: ptr.To(min), MaxReplicas: max, Metrics: metrics}
	return s.Defaulted()
}

func queueDepth(target string) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse(target)}}
}

func latencyP99(target time.Duration, minRequests int32) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{
		Percentile: 99, Target: metav1.Duration{Duration: target}, MinRequests: ptr.To(minRequests)}}
}

// readyPods returns n running, ready pods named test-pod-<i> that started an hour ago.
func agentPods(n int) []Pod {
	pods := make([]Pod, n)
	for i := range pods {
		start := t0.Add(-time.Hour)
		pods[i] = Pod{Name: fmt.Sprintf("test-pod-%d", i), Phase: corev1.PodRunning, Ready: corev1.ConditionTrue,
			StartTime: start, ReadyTransition: start,
			Requests: map[corev1.ResourceName]int64{corev1.ResourceCPU: 1000}}
	}
	return pods
}

// inFlight is a window in which pod i averaged values[i] requests in flight.
func inFlight(w time.Duration, values ...float64) Window {
	win := Window{Window: w, Pods: map[string]window.PodStats{}}
	for i, v := range values {
		win.Pods[fmt.Sprintf("test-pod-%d", i)] = window.PodStats{Seconds: w.Seconds(), InFlight: v}
	}
	return win
}

func repeat(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// agentInput is an input with the stable and burst windows at the policy's lengths and the
// store covering a full stable window.
func agentInput(spec *v1alpha1.AutoscalingPolicySpec, current int32, pods []Pod, stable, burst []float64) *Input {
	sw := time.Duration(*spec.StableWindowSeconds) * time.Second
	return &Input{
		Spec: spec, CurrentReplicas: current, Pods: pods,
		Stable:  inFlight(sw, stable...),
		Burst:   inFlight(time.Duration(*spec.Burst.WindowSeconds)*time.Second, burst...),
		Covered: sw,
	}
}

func condition(d Decision, t string) metav1.Condition {
	for _, c := range d.Conditions {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}

func checkCondition(t *testing.T, d Decision, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := condition(d, typ)
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s = %s %s (%s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// TestHorizontalController ports cases of upstream's horizontal_test.go that run the whole
// reconcile: metrics, behavior with its defaults, min/max, conditions. Upstream's pods have
// one container requesting reportedCPURequests (1 cpu by default) and using reportedLevels,
// sampled now over a minute; their start time is also their readiness transition.
func TestHorizontalController(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	run, fail := corev1.PodRunning, corev1.PodFailed
	brokenQueue := queueDepth("4") // no agent reports: an invalid metric, as upstream's failing external metric
	cases := []struct {
		name            string
		min, max        int32
		current         int32
		cpuTarget       int32
		levels          []int64
		requests        []int64
		readiness       []corev1.ConditionStatus
		startTime       []time.Time
		phase           []corev1.PodPhase
		scaleUpRules    *v1alpha1.ScalingRules
		scaleDownRules  *v1alpha1.ScalingRules
		extra           []v1alpha1.MetricSpec
		recommendations []timestampedRecommendation // nil: upstream's nil, the first decision seeds them

		want           int32
		wantConditions map[string]string // type -> reason
		wantActive     metav1.ConditionStatus
	}{
		{name: "TestScaleCPU/scale up", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{300, 500, 700}, want: 5},
		{name: "TestScaleCPU/scale up with unready pods results in less scale", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{300, 500, 700}, readiness: []corev1.ConditionStatus{F, T, T}, want: 4},
		{name: "TestScaleCPU/scale up with hot cpu pods results in less scale", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{300, 500, 700}, startTime: []time.Time{hot, cool, cool}, want: 4},
		{name: "TestScaleCPU/scale up ignores failed pods", min: 2, max: 6, current: 2, cpuTarget: 30, levels: []int64{500, 700}, requests: requests(4, 1000), readiness: []corev1.ConditionStatus{T, T, F, F}, phase: []corev1.PodPhase{run, run, fail, fail}, want: 4},
		{name: "TestScaleCPU/no scale up when all unready pods bring utilization within target", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{400, 500, 700}, readiness: []corev1.ConditionStatus{T, F, F}, want: 3},
		{name: "TestScaleCPU/scale down", min: 2, max: 6, current: 5, cpuTarget: 50, levels: []int64{100, 300, 500, 250, 250}, recommendations: []timestampedRecommendation{}, want: 3},
		{name: "TestScaleDownStabilizeInitialSize", min: 2, max: 6, current: 5, cpuTarget: 50, levels: []int64{100, 300, 500, 250, 250}, want: 5,
			wantConditions: map[string]string{v1alpha1.AbleToScale: v1alpha1.ReasonScaleDownStabilized}},
		{name: "TestUpscaleCap", min: 1, max: 100, current: 3, cpuTarget: 10, levels: []int64{100, 200, 300}, requests: []int64{100, 100, 100}, scaleUpRules: scalingRules(0, 0, 700, 60, 0), want: 24,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonScaleUpLimit}},
		{name: "TestUpscaleCapGreaterThanMaxReplicas", min: 1, max: 20, current: 3, cpuTarget: 10, levels: []int64{100, 200, 300}, requests: []int64{100, 100, 100}, scaleUpRules: scalingRules(0, 0, 700, 60, 0), want: 20,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonTooManyReplicas}},
		{name: "TestReplicaLimits/scale down clamped to min replicas", min: 2, max: 5, current: 3, cpuTarget: 90, levels: []int64{10, 95, 10}, requests: []int64{900, 1000, 1100}, recommendations: []timestampedRecommendation{}, want: 2,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonTooFewReplicas}},
		{name: "TestReplicaLimits/scale down clamped to min when desired is zero", min: 2, max: 5, current: 3, cpuTarget: 90, levels: []int64{0, 0, 0}, requests: []int64{900, 1000, 1100}, recommendations: []timestampedRecommendation{}, want: 2,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonTooFewReplicas}},
		{name: "TestReplicaLimits/no scaling when spec replicas is zero", min: 3, max: 5, current: 0, cpuTarget: 90, want: 0,
			wantConditions: map[string]string{v1alpha1.ScalingActive: v1alpha1.ReasonScalingDisabled}, wantActive: metav1.ConditionFalse},
		{name: "TestReplicaLimits/scale up to min when below min replicas", min: 3, max: 5, current: 2, cpuTarget: 90, levels: []int64{}, want: 3,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonTooFewReplicas}},
		{name: "TestReplicaLimits/scale down to max when above max replicas", min: 3, max: 5, current: 10, cpuTarget: 90, levels: []int64{}, want: 5,
			wantConditions: map[string]string{v1alpha1.ScalingLimited: v1alpha1.ReasonTooManyReplicas}},
		{name: "TestConfigurableTolerance/scaling up because of a 1% configurable tolerance", min: 1, max: 5, current: 3, cpuTarget: 100, levels: []int64{1010, 1030, 1020}, requests: []int64{900, 1000, 1100},
			scaleUpRules: &v1alpha1.ScalingRules{Tolerance: ptr.To(resource.MustParse("0.01"))}, want: 4},
		{name: "TestConfigurableTolerance/no scale-down because of a 90% configurable tolerance", min: 1, max: 5, current: 3, cpuTarget: 100, levels: []int64{300, 300, 300},
			scaleDownRules: &v1alpha1.ScalingRules{Tolerance: ptr.To(resource.MustParse("0.9"))}, want: 3,
			wantConditions: map[string]string{v1alpha1.AbleToScale: v1alpha1.ReasonReadyForNewScale}},
		{name: "TestConfigurableTolerance/no scaling because of the large default tolerance", min: 1, max: 5, current: 3, cpuTarget: 100, levels: []int64{1010, 1030, 1020}, requests: []int64{900, 1000, 1100}, want: 3,
			wantConditions: map[string]string{v1alpha1.AbleToScale: v1alpha1.ReasonReadyForNewScale}},
		{name: "TestScaleWithOneInvalidMetric/scale up with one invalid metric", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{300, 400, 500}, extra: []v1alpha1.MetricSpec{{Type: "CheddarCheese"}}, want: 4},
		{name: "TestScaleUpOneMetricEmpty", min: 2, max: 6, current: 3, cpuTarget: 30, levels: []int64{300, 400, 500}, extra: []v1alpha1.MetricSpec{brokenQueue}, want: 4},
		{name: "TestNoScaleDownOneMetricInvalid", min: 2, max: 6, current: 5, cpuTarget: 50, levels: []int64{100, 300, 500, 250, 250}, extra: []v1alpha1.MetricSpec{{Type: "CheddarCheese"}}, recommendations: []timestampedRecommendation{}, want: 5,
			wantConditions: map[string]string{v1alpha1.ScalingActive: v1alpha1.ReasonInvalidMetricSourceType}, wantActive: metav1.ConditionFalse},
		{name: "TestNoScaleDownOneMetricEmpty", min: 2, max: 6, current: 5, cpuTarget: 50, levels: []int64{100, 300, 500, 250, 250}, extra: []v1alpha1.MetricSpec{brokenQueue}, recommendations: []timestampedRecommendation{}, want: 5,
			wantConditions: map[string]string{v1alpha1.ScalingActive: v1alpha1.ReasonFailedGetAgentMetric}, wantActive: metav1.ConditionFalse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &v1alpha1.AutoscalingPolicySpec{MinReplicas: ptr.To(tc.min), MaxReplicas: tc.max,
				Metrics:  append([]v1alpha1.MetricSpec{cpuUtilization(tc.cpuTarget)}, tc.extra...),
				Behavior: &v1alpha1.Behavior{ScaleUp: tc.scaleUpRules, ScaleDown: tc.scaleDownRules}}
			spec = spec.Defaulted()
			n := int(tc.current)
			if len(tc.requests) > 0 {
				n = len(tc.requests)
			}
			pods := agentPods(n)
			usage := map[string]ResourceUsage{}
			for i := range pods {
				p := &pods[i]
				if tc.requests != nil {
					p.Requests[corev1.ResourceCPU] = tc.requests[i]
				}
				if tc.readiness != nil {
					p.Ready = tc.readiness[i]
				}
				if tc.startTime != nil {
					p.StartTime, p.ReadyTransition = tc.startTime[i], tc.startTime[i]
				}
				if tc.phase != nil {
					p.Phase = tc.phase[i]
				}
				if i < len(tc.levels) {
					usage[p.Name] = ResourceUsage{Value: tc.levels[i], Timestamp: t0, Window: time.Minute}
				}
			}
			in := &Input{Spec: spec, CurrentReplicas: tc.current, Pods: pods, Covered: time.Hour,
				Stable:    Window{Window: time.Minute},
				Burst:     Window{Window: 6 * time.Second},
				Resources: map[corev1.ResourceName]map[string]ResourceUsage{corev1.ResourceCPU: usage}}
			a := &Autoscaler{recommendations: tc.recommendations, cpuInit: testCPUInitializationPeriod, readinessDelay: testDelayOfInitialReadinessStatus}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != tc.want {
				t.Errorf("desired = %d, want %d (%s)", d.DesiredReplicas, tc.want, d.Reason)
			}
			for typ, reason := range tc.wantConditions {
				status := metav1.ConditionTrue
				if typ == v1alpha1.ScalingActive && tc.wantActive != "" {
					status = tc.wantActive
				}
				checkCondition(t, d, typ, status, reason)
			}
			if len(d.Conditions) != 3 {
				t.Errorf("conditions = %v, want AbleToScale, ScalingActive and ScalingLimited", d.Conditions)
			}
		})
	}
}

func TestQueueDepthReasonAndPolicyLimit(t *testing.T) {
	spec := policy(1, 20, queueDepth("4"))
	spec.Behavior.ScaleUp.Policies = []v1alpha1.ScalingPolicy{{Type: v1alpha1.PodsScalingPolicy, Value: 3, PeriodSeconds: 15}}
	spec.Burst.Threshold = ptr.To[int32](1000)
	in := agentInput(spec, 2, agentPods(2), []float64{20, 20}, []float64{20, 20})
	d := (&Autoscaler{}).Decide(in, t0)
	if d.DesiredReplicas != 5 || d.Recommendation != 10 {
		t.Fatalf("desired %d recommendation %d, want 5 and 10 (%s)", d.DesiredReplicas, d.Recommendation, d.Reason)
	}
	want := "queue depth 20/replica > target 4/replica over 60s: 2 → 5 (limited by scaleUp policy Pods 3/15s)"
	if d.Reason != want {
		t.Errorf("reason = %q, want %q", d.Reason, want)
	}
	if d.DrivingMetric != "QueueDepth" {
		t.Errorf("driving metric = %q", d.DrivingMetric)
	}
	checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonScaleUpLimit)
	if got := d.Metrics[0]; got.Current != "20" || got.Target != "4" || got.RecommendedReplicas != 10 {
		t.Errorf("metric status = %+v", got)
	}
}

func TestLargestRecommendationWins(t *testing.T) {
	rate := v1alpha1.MetricSpec{Type: v1alpha1.RequestRateMetricType, RequestRate: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("10")}}
	gpu := v1alpha1.MetricSpec{Type: v1alpha1.GPUMetricType, GPU: &v1alpha1.GPUMetricSource{Metric: v1alpha1.GPUUtilization, AverageUtilization: 60}}
	spec := policy(1, 20, queueDepth("4"), rate, gpu)
	in := agentInput(spec, 2, agentPods(2), nil, nil)
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("test-pod-%d", i)
		// queue 4/4 → 2, rate 25/10 → 5, GPU 90/60 → 3
		st := window.PodStats{Seconds: 60, InFlight: 4, RequestRate: 25, GPU: gpuStats(reportv1.GPUUtilization, 90), HasGPU: true}
		in.Stable.Pods[name] = st
		in.Burst.Pods[name] = st
	}
	d := (&Autoscaler{}).Decide(in, t0)
	if d.DesiredReplicas != 5 || d.DrivingMetric != "RequestRate" {
		t.Fatalf("desired %d driven by %q, want 5 by RequestRate (%s)", d.DesiredReplicas, d.DrivingMetric, d.Reason)
	}
	got := []int32{d.Metrics[0].RecommendedReplicas, d.Metrics[1].RecommendedReplicas, d.Metrics[2].RecommendedReplicas}
	if fmt.Sprint(got) != "[2 5 3]" {
		t.Errorf("per-metric recommendations = %v, want [2 5 3]", got)
	}
	if d.Metrics[2].Current != "90%" || d.Metrics[2].Target != "60%" {
		t.Errorf("GPU status = %+v", d.Metrics[2])
	}
}

// latencySketch holds n requests: 90% at 100ms and 10% at slow.
func latencySketch(n int, slow float64) reportv1.Sketch {
	var s reportv1.Sketch
	for i := 0; i < n; i++ {
		if i%10 == 9 {
			s.Add(slow)
		} else {
			s.Add(0.1)
		}
	}
	return s
}

func TestLatency(t *testing.T) {
	t.Run("p99 over target scales up", func(t *testing.T) {
		spec := policy(1, 10, latencyP99(500*time.Millisecond, 20))
		in := agentInput(spec, 3, agentPods(3), []float64{1, 1, 1}, []float64{1, 1, 1})
		in.Stable.Latency = latencySketch(100, 0.812)
		d := (&Autoscaler{}).Decide(in, t0)
		p99, _ := in.Stable.Latency.Quantile(0.99)
		want := fmt.Sprintf("p99 %s > target 500ms over 60s: 3 → 5", formatSeconds(p99))
		if d.DesiredReplicas != 5 || d.Reason != want {
			t.Errorf("got %d %q, want 5 %q", d.DesiredReplicas, d.Reason, want)
		}
		if d.DrivingMetric != "Latency p99" || d.Metrics[0].Name != "p99" || d.Metrics[0].Target != "500ms" {
			t.Errorf("driving %q status %+v", d.DrivingMetric, d.Metrics[0])
		}
	})
	t.Run("few requests abstain and let the queue decide", func(t *testing.T) {
		spec := policy(1, 10, latencyP99(500*time.Millisecond, 20), queueDepth("4"))
		in := agentInput(spec, 3, agentPods(3), []float64{4, 4, 4}, []float64{4, 4, 4})
		in.Stable.Latency = latencySketch(19, 5)
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != 3 || d.Hold || d.DrivingMetric != "QueueDepth" {
			t.Errorf("got %d hold=%v driven by %q (%s), want 3 by QueueDepth", d.DesiredReplicas, d.Hold, d.DrivingMetric, d.Reason)
		}
		if d.Metrics[0].RecommendedReplicas != 0 || d.Metrics[0].Current != "" {
			t.Errorf("latency status = %+v, want no value and no recommendation", d.Metrics[0])
		}
		checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionTrue, v1alpha1.ReasonValidMetricFound)
	})
	t.Run("few requests do not block a scale-down", func(t *testing.T) {
		spec := policy(1, 10, latencyP99(500*time.Millisecond, 20), queueDepth("4"))
		in := agentInput(spec, 4, agentPods(4), []float64{1, 1, 1, 1}, []float64{1, 1, 1, 1})
		in.Stable.Latency = latencySketch(5, 5)
		a := &Autoscaler{recommendations: []timestampedRecommendation{}}
		d := a.Decide(in, t0)
		if d.DesiredReplicas != 1 {
			t.Errorf("desired = %d, want 1 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
	t.Run("time to first byte", func(t *testing.T) {
		m := latencyP99(200*time.Millisecond, 20)
		m.Latency.TimeToFirstByte = true
		spec := policy(1, 10, m)
		in := agentInput(spec, 2, agentPods(2), []float64{1, 1}, []float64{1, 1})
		in.Stable.Latency = latencySketch(100, 0.05) // whole responses are fast...
		in.Stable.TimeToFirstByte = latencySketch(100, 0.41)
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != 5 || d.DrivingMetric != "Latency p99 TTFB" {
			t.Errorf("got %d driven by %q, want 5 by TTFB (%s)", d.DesiredReplicas, d.DrivingMetric, d.Reason)
		}
	})
	t.Run("time per output token", func(t *testing.T) {
		m := latencyP99(60*time.Millisecond, 20)
		m.Latency.TimePerOutputToken = true
		spec := policy(1, 10, m)
		in := agentInput(spec, 2, agentPods(2), []float64{1, 1}, []float64{1, 1})
		// Only the per-token sketch has requests: read any other, the metric would abstain.
		in.Stable.Latency, in.Stable.TimeToFirstByte = latencySketch(0, 0), latencySketch(0, 0)
		in.Stable.TimePerOutputToken = latencySketch(100, 0.05) // p99 100ms: 1.68 × 2 pods
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != 4 || d.DrivingMetric != "Latency p99 TPOT" {
			t.Errorf("got %d driven by %q, want 4 by TPOT (%s)", d.DesiredReplicas, d.DrivingMetric, d.Reason)
		}
	})
}

func TestAgentMetricsReadiness(t *testing.T) {
	t.Run("unready pods count at zero on a scale-up", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		spec.Burst.Threshold = ptr.To[int32](1000)
		pods := agentPods(3)
		pods[0].Ready = corev1.ConditionFalse
		// The unready pod's own gauge does not count: it gets no traffic from its Service.
		in := agentInput(spec, 3, pods, []float64{12, 12, 12}, nil)
		d := (&Autoscaler{}).Decide(in, t0)
		// ready average 12/4 = 3; with the unready pod at 0, 24/3/4 = 2 → ceil(2×3) = 6
		if d.DesiredReplicas != 6 {
			t.Errorf("desired = %d, want 6 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
	t.Run("missing pods count at target on a scale-down", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		in := agentInput(spec, 4, agentPods(4), []float64{1, 1}, []float64{1, 1})
		d := (&Autoscaler{recommendations: []timestampedRecommendation{}}).Decide(in, t0)
		// (1+1+4+4)/4 = 2.5 of 4 → ceil(0.625×4) = 3
		if d.DesiredReplicas != 3 {
			t.Errorf("desired = %d, want 3 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
	t.Run("missing pods that flip the direction hold", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		spec.Burst.Threshold = ptr.To[int32](1000)
		in := agentInput(spec, 4, agentPods(4), []float64{5}, nil)
		d := (&Autoscaler{}).Decide(in, t0)
		// 5/4 > 1 over the one reporting pod; with the three missing at 0, 5/4/4 < 1: hold.
		if d.DesiredReplicas != 4 {
			t.Errorf("desired = %d, want 4 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
	t.Run("terminating pods are ignored", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		spec.Burst.Threshold = ptr.To[int32](1000)
		pods := agentPods(3)
		pods[2].Terminating = true
		in := agentInput(spec, 2, pods, []float64{8, 8, 0}, nil)
		d := (&Autoscaler{}).Decide(in, t0)
		if d.DesiredReplicas != 4 {
			t.Errorf("desired = %d, want 4 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
}

func TestMissingData(t *testing.T) {
	spec := policy(1, 20, queueDepth("4"))
	in := agentInput(spec, 5, agentPods(5), nil, nil)
	a := &Autoscaler{recommendations: []timestampedRecommendation{}}
	d := a.Decide(in, t0)
	if d.DesiredReplicas != 5 || !d.Hold {
		t.Errorf("got %d hold=%v, want a hold at 5", d.DesiredReplicas, d.Hold)
	}
	if !strings.Contains(d.Reason, "no agent reports from the target's pods in the last 60s") {
		t.Errorf("reason = %q", d.Reason)
	}
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonFailedGetAgentMetric)
	if len(a.recommendations) != 0 {
		t.Errorf("a hold recorded recommendations: %v", a.recommendations)
	}
}

func TestIncompleteWindowHoldsScaleDownOnly(t *testing.T) {
	spec := policy(1, 20, queueDepth("4"))
	spec.Burst.Threshold = ptr.To[int32](1000)
	in := agentInput(spec, 4, agentPods(4), []float64{1, 1, 1, 1}, nil)
	in.Covered = 20 * time.Second
	d := (&Autoscaler{recommendations: []timestampedRecommendation{}}).Decide(in, t0)
	if d.DesiredReplicas != 4 || !d.Hold {
		t.Errorf("scale-down: got %d hold=%v, want a hold at 4 (%s)", d.DesiredReplicas, d.Hold, d.Reason)
	}
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonIncompleteWindow)

	in = agentInput(spec, 2, agentPods(2), []float64{8, 8}, nil)
	in.Covered = 20 * time.Second
	if d := (&Autoscaler{}).Decide(in, t0); d.DesiredReplicas != 4 {
		t.Errorf("scale-up: desired = %d, want 4 (%s)", d.DesiredReplicas, d.Reason)
	}
}

func TestBurst(t *testing.T) {
	spec := policy(1, 20, queueDepth("4")) // threshold 200%, burst window 6 s, stable 60 s
	a := &Autoscaler{}

	// A spike: the stable window barely moves, the burst window says 10 pods, five times the
	// two ready. The default scale-up policy would allow 6; burst goes to 10 at once.
	in := agentInput(spec, 2, agentPods(2), []float64{5, 5}, []float64{20, 20})
	d := a.Decide(in, t0)
	if d.DesiredReplicas != 10 || !d.Burst {
		t.Fatalf("spike: got %d burst=%v, want 10 in burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
	if want := "burst: queue depth 20/replica > target 4/replica over 6s: 2 → 10"; d.Reason != want {
		t.Errorf("reason = %q, want %q", d.Reason, want)
	}
	checkCondition(t, d, v1alpha1.AbleToScale, metav1.ConditionTrue, v1alpha1.ReasonBurstMode)
	a.Scaled(2, 10, t0)

	// The spike is over, but burst mode lasts a stable window: no scale-down.
	in = agentInput(spec, 10, agentPods(10), repeat(10, 1), repeat(10, 1))
	d = a.Decide(in, t0.Add(10*time.Second))
	if d.DesiredReplicas != 10 || !d.Burst {
		t.Errorf("after the spike: got %d burst=%v, want 10 in burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
	if want := "burst: queue depth 1/replica < target 4/replica over 60s: 10 → 10 (burst mode holds its peak of 10 until 60s pass without burst)"; d.Reason != want {
		t.Errorf("reason = %q, want %q", d.Reason, want)
	}

	// A stable window without burst ends it; scale-down stabilization still remembers 10.
	d = a.Decide(in, t0.Add(71*time.Second))
	if d.DesiredReplicas != 10 || d.Burst {
		t.Errorf("burst over: got %d burst=%v, want 10 out of burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
	checkCondition(t, d, v1alpha1.AbleToScale, metav1.ConditionTrue, v1alpha1.ReasonScaleDownStabilized)

	// Once the scale-down window has passed too, the target scales down.
	d = a.Decide(in, t0.Add(400*time.Second))
	if d.DesiredReplicas != 3 {
		t.Errorf("after stabilization: desired = %d, want 3 (%s)", d.DesiredReplicas, d.Reason)
	}
}

// Burst mode holds its peak until a stable window passes without burst; the scale-down
// window then covers what each tick asked for, not that held peak, so the peak is not held a
// second window. Pods that start in 2 s with a hold of 5 start times scale down on the minute.
func TestBurstPeakIsHeldOneWindow(t *testing.T) {
	spec := policy(1, 20, queueDepth("4"))
	spec.ScaleDownHold = &v1alpha1.ScaleDownHold{StartDelays: 5}
	a := &Autoscaler{startDelay: 2 * time.Second, startDelayAt: t0}
	d := a.Decide(agentInput(spec, 2, agentPods(2), []float64{5, 5}, []float64{20, 20}), t0)
	if d.DesiredReplicas != 10 || !d.Burst {
		t.Fatalf("spike: got %d burst=%v, want 10 in burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
	a.Scaled(2, 10, t0)
	over := agentInput(spec, 10, agentPods(10), repeat(10, 1), repeat(10, 1))
	for _, s := range []int{10, 40} {
		if d = a.Decide(over, t0.Add(time.Duration(s)*time.Second)); d.DesiredReplicas != 10 || !d.Burst {
			t.Fatalf("%d s after the spike: got %d burst=%v, want 10 in burst (%s)", s, d.DesiredReplicas, d.Burst, d.Reason)
		}
	}
	// Burst mode ended at 61 s; the last minute asked for 3 (1 in flight × 10 pods ÷ 4).
	d = a.Decide(over, t0.Add(71*time.Second))
	if d.DesiredReplicas != 3 || d.Burst {
		t.Errorf("a window after the spike: got %d burst=%v, want 3 out of burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
	}
}

func TestBurstLimits(t *testing.T) {
	t.Run("maxReplicas caps it", func(t *testing.T) {
		spec := policy(1, 8, queueDepth("4"))
		d := (&Autoscaler{}).Decide(agentInput(spec, 2, agentPods(2), []float64{5, 5}, []float64{20, 20}), t0)
		if d.DesiredReplicas != 8 || !d.Burst {
			t.Errorf("got %d burst=%v, want 8 (%s)", d.DesiredReplicas, d.Burst, d.Reason)
		}
		checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonTooManyReplicas)
	})
	t.Run("scaleUp selectPolicy Disabled forbids it", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		spec.Behavior.ScaleUp.SelectPolicy = ptr.To(v1alpha1.DisabledPolicySelect)
		d := (&Autoscaler{}).Decide(agentInput(spec, 2, agentPods(2), []float64{5, 5}, []float64{20, 20}), t0)
		if d.DesiredReplicas != 2 {
			t.Errorf("got %d, want 2 (%s)", d.DesiredReplicas, d.Reason)
		}
		checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonScaleUpLimit)
	})
	t.Run("below the threshold it does not start", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		// 6/4 × 2 = 3 pods, under 200% of 2.
		d := (&Autoscaler{}).Decide(agentInput(spec, 2, agentPods(2), []float64{6, 6}, []float64{6, 6}), t0)
		if d.Burst || d.DesiredReplicas != 3 {
			t.Errorf("got %d burst=%v, want 3 without burst (%s)", d.DesiredReplicas, d.Burst, d.Reason)
		}
	})
}

func TestStabilizationAndPoliciesOverTicks(t *testing.T) {
	spec := policy(1, 20, queueDepth("4"))
	spec.Burst.Threshold = ptr.To[int32](1000)
	spec.Behavior.ScaleDown.StabilizationWindowSeconds = ptr.To[int32](60)
	spec.Behavior.ScaleDown.Policies = []v1alpha1.ScalingPolicy{{Type: v1alpha1.PodsScalingPolicy, Value: 2, PeriodSeconds: 30}}
	a := &Autoscaler{}
	cur := int32(10)
	step := func(at time.Duration, perPod float64, want int32) {
		t.Helper()
		in := agentInput(spec, cur, agentPods(int(cur)), repeat(int(cur), perPod), nil)
		d := a.Decide(in, t0.Add(at))
		if d.DesiredReplicas != want {
			t.Fatalf("at %s: desired = %d, want %d (%s)", at, d.DesiredReplicas, want, d.Reason)
		}
		if d.DesiredReplicas != cur {
			a.Scaled(cur, d.DesiredReplicas, t0.Add(at))
			cur = d.DesiredReplicas
		}
	}
	step(0, 1, 10)              // the first decision remembers 10 for the scale-down window
	step(30*time.Second, 1, 10) // 3 recommended, 10 within the last 60 s
	step(61*time.Second, 1, 8)  // window passed; Pods 2 per 30 s
	step(75*time.Second, 1, 8)  // same period: no more
	step(92*time.Second, 1, 6)  // next period
}

func TestSafety(t *testing.T) {
	t.Run("HPA conflict", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		in := agentInput(spec, 2, agentPods(2), []float64{20, 20}, []float64{20, 20})
		in.HPAConflict = "llama"
		a := &Autoscaler{}
		d := a.Decide(in, t0)
		if d.DesiredReplicas != 2 || !d.Hold || d.Burst {
			t.Errorf("got %d hold=%v burst=%v, want a hold at 2", d.DesiredReplicas, d.Hold, d.Burst)
		}
		checkCondition(t, d, v1alpha1.AbleToScale, metav1.ConditionFalse, v1alpha1.ReasonHPAConflict)
		if c := condition(d, v1alpha1.AbleToScale); !strings.Contains(c.Message, `"llama"`) {
			t.Errorf("message %q does not name the HPA", c.Message)
		}
	})
	t.Run("unschedulable pods stop scale-up", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		spec.Burst.Threshold = ptr.To[int32](1000)
		pods := agentPods(4)
		pods[3].Phase, pods[3].Ready, pods[3].Unschedulable = corev1.PodPending, corev1.ConditionFalse, true
		d := (&Autoscaler{}).Decide(agentInput(spec, 4, pods, []float64{8, 8, 8}, nil), t0)
		if d.DesiredReplicas != 4 || !d.Hold {
			t.Errorf("got %d hold=%v, want a hold at 4 (%s)", d.DesiredReplicas, d.Hold, d.Reason)
		}
		checkCondition(t, d, v1alpha1.AbleToScale, metav1.ConditionFalse, v1alpha1.ReasonPodsUnschedulable)
	})
	t.Run("unschedulable pods do not stop scale-down", func(t *testing.T) {
		spec := policy(1, 20, queueDepth("4"))
		pods := agentPods(4)
		pods[3].Phase, pods[3].Ready, pods[3].Unschedulable = corev1.PodPending, corev1.ConditionFalse, true
		d := (&Autoscaler{recommendations: []timestampedRecommendation{}}).Decide(agentInput(spec, 4, pods, []float64{1, 1, 1}, []float64{1, 1, 1}), t0)
		if d.DesiredReplicas != 1 {
			t.Errorf("desired = %d, want 1 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
	t.Run("above maxReplicas", func(t *testing.T) {
		spec := policy(1, 5, queueDepth("4"))
		d := (&Autoscaler{}).Decide(agentInput(spec, 7, agentPods(7), repeat(7, 4), nil), t0)
		if d.DesiredReplicas != 5 {
			t.Errorf("desired = %d, want 5", d.DesiredReplicas)
		}
		checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonTooManyReplicas)
	})
	t.Run("no spec", func(t *testing.T) {
		d := (&Autoscaler{}).Decide(&Input{CurrentReplicas: 3}, t0)
		if d.DesiredReplicas != 3 || !d.Hold {
			t.Errorf("got %d hold=%v, want a hold at 3", d.DesiredReplicas, d.Hold)
		}
	})
	t.Run("spec not defaulted", func(t *testing.T) {
		spec := &v1alpha1.AutoscalingPolicySpec{MaxReplicas: 10, Metrics: []v1alpha1.MetricSpec{queueDepth("4")}}
		d := (&Autoscaler{}).Decide(&Input{Spec: spec, CurrentReplicas: 2, Pods: agentPods(2),
			Stable: inFlight(time.Minute, 6, 6), Burst: inFlight(6*time.Second, 6, 6), Covered: time.Minute}, t0)
		if d.DesiredReplicas != 3 {
			t.Errorf("desired = %d, want 3 (%s)", d.DesiredReplicas, d.Reason)
		}
	})
}

// TestResourceValueTarget: HPA has no Value target for resources; ours is the total usage of
// the ready pods against the value, like an object metric.
func TestResourceValueTarget(t *testing.T) {
	m := v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: v1alpha1.MetricTarget{Type: v1alpha1.ValueMetricType, Value: ptr.To(resource.MustParse("3Gi"))}}}
	spec := policy(1, 10, m)
	pods := agentPods(3)
	usage := map[string]ResourceUsage{}
	for _, p := range pods {
		usage[p.Name] = ResourceUsage{Value: 1536 << 20 * 1000, Timestamp: t0, Window: time.Minute}
	}
	in := &Input{Spec: spec, CurrentReplicas: 3, Pods: pods, Covered: time.Minute,
		Resources: map[corev1.ResourceName]map[string]ResourceUsage{corev1.ResourceMemory: usage}}
	d := (&Autoscaler{}).Decide(in, t0)
	// 4.5Gi over 3Gi × 3 ready pods
	if d.DesiredReplicas != 5 || d.Metrics[0].Current != "4608Mi" {
		t.Errorf("got %d with current %q, want 5 and 4608Mi (%s)", d.DesiredReplicas, d.Metrics[0].Current, d.Reason)
	}
}

// failoverSpec is the e2e restart test's policy: queue depth 4, a 10 s stable window, a 3 s
// burst window, scale-down after 10 s of stabilization and then by up to 100% per 5 s.
func failoverSpec() *v1alpha1.AutoscalingPolicySpec {
	spec := policy(1, 5, queueDepth("4"))
	spec.StableWindowSeconds = ptr.To[int32](10)
	spec.Burst.WindowSeconds = ptr.To[int32](3)
	spec.Behavior.ScaleUp.StabilizationWindowSeconds = ptr.To[int32](0)
	spec.Behavior.ScaleDown.StabilizationWindowSeconds = ptr.To[int32](10)
	spec.Behavior.ScaleDown.Policies = []v1alpha1.ScalingPolicy{{Type: v1alpha1.PercentScalingPolicy, Value: 100, PeriodSeconds: 5}}
	return spec
}

// firstScaleDown ticks a once a second from t0 for a minute, starting at 5 replicas, with
// the stable-window average and the covered time that tick(s) gives for s seconds since t0,
// and returns when it first went below 5 and to how many.
func firstScaleDown(t *testing.T, a *Autoscaler, tick func(s int) (avg float64, covered time.Duration)) (time.Duration, int32) {
	t.Helper()
	spec := failoverSpec()
	for s := 0; s <= 60; s++ {
		avg, covered := tick(s)
		in := agentInput(spec, 5, agentPods(5), repeat(5, avg), repeat(5, 1.63))
		in.Covered = covered
		d := a.Decide(in, t0.Add(time.Duration(s)*time.Second))
		if d.DesiredReplicas < 5 {
			return time.Duration(s) * time.Second, d.DesiredReplicas
		}
	}
	t.Fatal("never scaled down")
	return 0, 0
}

// A leader that takes over under load must not scale down earlier than the old leader would
// have, whatever happened before the failover, which it cannot know. The worst case for it
// is that the load dropped at the failover: the old leader, whose stable window still held
// the higher load, needs the window to move past the drop before recommending fewer pods,
// then a whole scale-down window of such recommendations. So the new leader holds until its
// reports cover a stable window and then a scale-down window more (the e2e failure: 5 → 3
// twelve seconds after the election, where the old leader would have taken 14 s at least).
func TestFailoverScalesDownNoEarlierThanTheOldLeader(t *testing.T) {
	// The old leader: a full window of 4 per pod (5 pods at the target), then the load
	// drops to 1.63 per pod at t0 and its 10 s window slides over the drop.
	old := &Autoscaler{}
	oldAt, oldTo := firstScaleDown(t, old, func(s int) (float64, time.Duration) {
		k := float64(min(s, 10))
		return ((10-k)*4 + k*1.63) / 10, time.Hour
	})
	// The new leader, elected at t0: empty store, its window fills with the new load only.
	newAt, newTo := firstScaleDown(t, &Autoscaler{}, func(s int) (float64, time.Duration) {
		return 1.63, time.Duration(s) * time.Second
	})
	t.Logf("old leader: 5 → %d after %s; new leader: 5 → %d after %s", oldTo, oldAt, newTo, newAt)
	if newAt < oldAt {
		t.Errorf("the new leader scaled down after %s, before the old leader would have (%s)", newAt, oldAt)
	}
	// And then it does scale down: the hold ends with a stable window plus a scale-down window.
	if want := 20 * time.Second; newAt > want+time.Second || newTo != 3 {
		t.Errorf("the new leader went to %d after %s, want 3 after %s", newTo, newAt, want)
	}
}

// TestHPAWorksByChangingAPIVersionAndKind: a real autoscaling/v2 HPA manifest, with only its
// apiVersion and kind changed, is a valid policy and decides with each of its metrics read as
// HPA reads them: cpu from metrics.k8s.io, the Pods, Object and External metrics from the
// metrics adapters' APIs. The largest recommendation wins and HPA's behavior limits it.
func TestHPAWorksByChangingAPIVersionAndKind(t *testing.T) {
	data, err := os.ReadFile("../../api/v1alpha1/testdata/hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := yaml.UnmarshalStrict(data, &hpa); err != nil {
		t.Fatalf("not an autoscaling/v2 HPA: %v", err)
	}
	data = bytes.Replace(data, []byte("\napiVersion: autoscaling/v2\n"), []byte("\napiVersion: inferscale.io/v1alpha1\n"), 1)
	data = bytes.Replace(data, []byte("\nkind: HorizontalPodAutoscaler\n"), []byte("\nkind: AutoscalingPolicy\n"), 1)
	var p v1alpha1.AutoscalingPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("the HPA with apiVersion and kind changed does not decode as a policy: %v", err)
	}
	if errs := v1alpha1.ValidateAutoscalingPolicy(&p); len(errs) > 0 {
		t.Fatalf("refused: %v", errs.ToAggregate())
	}
	spec := p.Spec.Defaulted()
	m := spec.Metrics // cpu 50%, Pods 1k/replica, Object Ingress 10k, External 30/replica
	pods := agentPods(2)
	in := &Input{
		Spec: spec, CurrentReplicas: 2, StatusReplicas: 2, Pods: pods,
		Resources: map[corev1.ResourceName]map[string]ResourceUsage{corev1.ResourceCPU: {
			"test-pod-0": {Value: 500, Timestamp: t0, Window: time.Minute}, "test-pod-1": {Value: 500, Timestamp: t0, Window: time.Minute}}},
		MetricsAPI: map[string]APIMetric{
			MetricsAPIKey(&m[1]): {Pods: map[string]int64{"test-pod-0": 1_000_000, "test-pod-1": 2_000_000}, Timestamp: t0},
			MetricsAPIKey(&m[2]): {Value: 20_000_000, Timestamp: t0},
			MetricsAPIKey(&m[3]): {Value: 150_000, Timestamp: t0},
		},
	}
	var a Autoscaler
	d := a.Decide(in, t0)
	want := []struct {
		current  string
		replicas int32
	}{
		{"50% (500m/replica)", 2}, // at target
		{"1500", 3},               // 1.5k per pod against 1k: ratio 1.5 × 2 pods
		{"20k", 4},                // 20k against 10k: ratio 2 × 2 ready pods
		{"75", 5},                 // 150 against 30 per pod: 150/30
	}
	for i, w := range want {
		if got := d.Metrics[i]; got.Current != w.current || got.RecommendedReplicas != w.replicas {
			t.Errorf("metric %d (%s %s): current %q recommends %d, want %q and %d", i, got.Type, got.Name, got.Current, got.RecommendedReplicas, w.current, w.replicas)
		}
	}
	if d.Recommendation != 5 || d.DrivingMetric != "External queue_messages_ready" {
		t.Errorf("recommendation %d driven by %q, want 5 by the External metric", d.Recommendation, d.DrivingMetric)
	}
	// The HPA's scaleUp policy: +100% per 15 s from 2.
	if d.DesiredReplicas != 4 {
		t.Errorf("desired %d, want 4 (scaleUp Percent 100 of 2): %s", d.DesiredReplicas, d.Reason)
	}
	checkCondition(t, d, v1alpha1.ScalingActive, metav1.ConditionTrue, "ValidMetricFound")
	checkCondition(t, d, v1alpha1.ScalingLimited, metav1.ConditionTrue, "ScaleUpLimit")
}

// gpuStats is a window's GPU readings with one signal.
func gpuStats(s reportv1.GPUSignal, v float64) window.GPUStats {
	var g window.GPUStats
	g.Signals[s], g.Has[s] = v, true
	return g
}
