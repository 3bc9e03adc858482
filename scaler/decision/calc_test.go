package decision

// Ports of Kubernetes' pkg/controller/podautoscaler/replica_calculator_test.go (v1.37.2):
// the same fixtures and numbers, run through the decision core's evaluators. Each case is
// named "<upstream test>/<upstream case>".

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// t0 is the fixed clock of every test.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Upstream's testing values of the kube-controller-manager flags.
const (
	testCPUInitializationPeriod       = 2 * time.Minute
	testDelayOfInitialReadinessStatus = 10 * time.Second
	testTolerance                     = 0.1
)

// Upstream's hotCPUCreationTime and coolCPUCreationTime.
var (
	hot  = t0
	cool = t0.Add(-3 * time.Minute)
)

// calcScenario mirrors upstream's: pods named test-pod-<i>, two containers each, every
// container requesting requests[i] millicores and using levels[i]. Upstream leaves the start
// time at the zero time where a test sets none; a real pod that has started has a start time,
// so the port uses an hour ago, which the cpu rules judge the same way.
type calcScenario struct {
	current   int32
	requests  []int64 // millicores per container; fewer than pods: the rest have no request
	levels    []int64 // usage per container; fewer than pods: missing metrics, more: superfluous
	podNames  []string
	readiness []corev1.ConditionStatus
	startTime []time.Time
	phase     []corev1.PodPhase
	deleting  []bool
}

const containersPerPod = 2

func (f *calcScenario) pods() []Pod {
	n := int(f.current)
	if len(f.phase) > n {
		n = len(f.phase)
	}
	pods := make([]Pod, n)
	for i := range pods {
		p := Pod{
			Name:      fmt.Sprintf("test-pod-%d", i),
			Phase:     corev1.PodRunning,
			Ready:     corev1.ConditionTrue,
			StartTime: t0.Add(-time.Hour),
		}
		if i < len(f.readiness) {
			p.Ready = f.readiness[i]
		}
		if f.startTime != nil {
			p.StartTime = f.startTime[i]
		}
		if f.phase != nil {
			p.Phase = f.phase[i]
		}
		if f.deleting != nil {
			p.Terminating = f.deleting[i]
		}
		if i < len(f.requests) {
			p.Requests = map[corev1.ResourceName]int64{
				corev1.ResourceCPU:    containersPerPod * f.requests[i],
				corev1.ResourceMemory: containersPerPod * f.requests[i],
			}
		}
		pods[i] = p
	}
	return pods
}

// usage is what metrics.k8s.io returns for the scenario: timestamp zero, window a minute,
// as upstream's fake client.
func (f *calcScenario) usage(perPod int64) map[string]ResourceUsage {
	if len(f.levels) == 0 {
		return nil
	}
	u := make(map[string]ResourceUsage, len(f.levels))
	for i, l := range f.levels {
		name := fmt.Sprintf("test-pod-%d", i)
		if i < len(f.podNames) {
			name = f.podNames[i]
		}
		u[name] = ResourceUsage{Value: perPod * l, Window: time.Minute}
	}
	return u
}

// podValues is what custom.metrics.k8s.io returns for a Pods metric of the scenario: levels
// as milli-values, by pod name.
func (f *calcScenario) podValues() map[string]int64 {
	v := make(map[string]int64, len(f.levels))
	for i, l := range f.levels {
		v[fmt.Sprintf("test-pod-%d", i)] = l
	}
	return v
}

func testEvaluator(in *Input, tol tolerances) *evaluator {
	return &evaluator{
		in: in, win: &in.Stable, now: t0, tol: tol, cur: in.CurrentReplicas, ready: readyPods(in.Pods),
		cpuInitializationPeriod:       testCPUInitializationPeriod,
		delayOfInitialReadinessStatus: testDelayOfInitialReadinessStatus,
	}
}

func defaultTolerances() tolerances { return tolerances{testTolerance, testTolerance} }

func cpuUtilization(target int32) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
		Name:   corev1.ResourceCPU,
		Target: v1alpha1.MetricTarget{Type: v1alpha1.UtilizationMetricType, AverageUtilization: ptr.To(target)},
	}}
}

type resourceCase struct {
	name       string
	fixture    calcScenario
	tolerances *tolerances

	target          int32
	wantReplicas    int32
	wantUtilization int32
	wantRaw         int64 // average usage in millicores, as upstream's rawUtilization
	wantErr         string
}

func runResourceCases(t *testing.T, cases []resourceCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := cpuUtilization(tc.target)
			in := &Input{
				CurrentReplicas: tc.fixture.current,
				Pods:            tc.fixture.pods(),
				Resources:       map[corev1.ResourceName]map[string]ResourceUsage{},
			}
			if u := tc.fixture.usage(containersPerPod); u != nil {
				in.Resources[corev1.ResourceCPU] = u
			}
			tol := defaultTolerances()
			if tc.tolerances != nil {
				tol = *tc.tolerances
			}
			var ev evaluation
			testEvaluator(in, tol).evaluate(&m, &ev)
			if tc.wantErr != "" {
				if ev.err == nil || !strings.Contains(ev.err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", ev.err, tc.wantErr)
				}
				return
			}
			if ev.err != nil {
				t.Fatalf("unexpected error: %v", ev.err)
			}
			if ev.replicas != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", ev.replicas, tc.wantReplicas)
			}
			if want := fmt.Sprintf("%d%%", tc.wantUtilization); ev.current != want {
				t.Errorf("utilization = %s, want %s", ev.current, want)
			}
			if want := quantity(corev1.ResourceCPU, tc.wantRaw); !strings.Contains(ev.status.Current, "("+want+"/replica)") {
				t.Errorf("status current = %q, want the raw average %s", ev.status.Current, want)
			}
		})
	}
}

func requests(n int, milli int64) []int64 {
	r := make([]int64, n)
	for i := range r {
		r[i] = milli
	}
	return r
}

func TestReplicaCalcResourceScale(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	run, fail, pend := corev1.PodRunning, corev1.PodFailed, corev1.PodPending
	runResourceCases(t, []resourceCase{
		{name: "scale up", target: 30, wantReplicas: 5, wantUtilization: 50, wantRaw: 2 * 500,
			fixture: calcScenario{current: 3, requests: requests(3, 1000), levels: []int64{300, 500, 700}}},
		{name: "scale up: unready pod scales less", target: 30, wantReplicas: 4, wantUtilization: 60, wantRaw: 2 * 600,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, T}, requests: requests(3, 1000), levels: []int64{300, 500, 700}}},
		{name: "scale up: hot-CPU pod scales less", target: 30, wantReplicas: 4, wantUtilization: 60, wantRaw: 2 * 600,
			fixture: calcScenario{current: 3, startTime: []time.Time{hot, cool, cool}, requests: requests(3, 1000), levels: []int64{300, 500, 700}}},
		{name: "no scale: unready pods ignored", target: 30, wantReplicas: 3, wantUtilization: 40, wantRaw: 2 * 400,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{T, F, F}, requests: requests(3, 1000), levels: []int64{400, 500, 700}}},
		{name: "no scale: hot-CPU pods ignored", target: 30, wantReplicas: 3, wantUtilization: 40, wantRaw: 2 * 400,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{T, F, F}, startTime: []time.Time{cool, hot, hot}, requests: requests(3, 1000), levels: []int64{400, 500, 700}}},
		{name: "scale up: failed pods ignored", target: 30, wantReplicas: 4, wantUtilization: 60, wantRaw: 2 * 600,
			fixture: calcScenario{current: 2, readiness: []corev1.ConditionStatus{T, T, F, F}, phase: []corev1.PodPhase{run, run, fail, fail}, requests: requests(4, 1000), levels: []int64{500, 700}}},
		{name: "scale up: pods being deleted are ignored", target: 30, wantReplicas: 4, wantUtilization: 60, wantRaw: 2 * 600,
			fixture: calcScenario{current: 2, readiness: []corev1.ConditionStatus{T, T, F, F}, phase: []corev1.PodPhase{run, run, run, run}, deleting: []bool{false, false, true, true}, requests: requests(4, 1000), levels: []int64{500, 700}}},
		{name: "scale down", target: 50, wantReplicas: 3, wantUtilization: 28, wantRaw: 2 * 280,
			fixture: calcScenario{current: 5, requests: requests(5, 1000), levels: []int64{100, 300, 500, 250, 250}}},
		{name: "scale down: exclude unready pods", target: 50, wantReplicas: 2, wantUtilization: 30, wantRaw: 2 * 300,
			fixture: calcScenario{current: 5, readiness: []corev1.ConditionStatus{T, T, T, F, F}, requests: requests(5, 1000), levels: []int64{100, 300, 500, 250, 250}}},
		{name: "scale down: exclude unscheduled pods", target: 50, wantReplicas: 1, wantUtilization: 10, wantRaw: 2 * 100,
			fixture: calcScenario{current: 5, readiness: []corev1.ConditionStatus{T, F, F, F, F}, phase: []corev1.PodPhase{run, pend, pend, pend, pend}, requests: requests(5, 1000), levels: []int64{100}}},
		{name: "scale down: ignore hot-CPU pods", target: 50, wantReplicas: 2, wantUtilization: 30, wantRaw: 2 * 300,
			fixture: calcScenario{current: 5, startTime: []time.Time{cool, cool, cool, hot, hot}, requests: requests(5, 1000), levels: []int64{100, 300, 500, 250, 250}}},
		{name: "scale down: failed pods ignored", target: 50, wantReplicas: 3, wantUtilization: 28, wantRaw: 2 * 280,
			fixture: calcScenario{current: 5, readiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, phase: []corev1.PodPhase{run, run, run, run, run, fail, fail}, requests: requests(7, 1000), levels: []int64{100, 300, 500, 250, 250}}},
		{name: "scale down: pods being deleted are ignored", target: 50, wantReplicas: 3, wantUtilization: 28, wantRaw: 2 * 280,
			fixture: calcScenario{current: 5, readiness: []corev1.ConditionStatus{T, T, T, T, T, F, F}, phase: []corev1.PodPhase{run, run, run, run, run, run, run}, deleting: []bool{false, false, false, false, false, true, true}, requests: requests(7, 1000), levels: []int64{100, 300, 500, 250, 250}}},
	})
}

func TestReplicaCalcResourceTolerance(t *testing.T) {
	mixed := []int64{900, 1000, 1100}
	runResourceCases(t, []resourceCase{
		{name: "within default tolerance", target: 100, wantReplicas: 3, wantUtilization: 102, wantRaw: 2 * 1020,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{1010, 1030, 1020}}},
		{name: "outside 0% tolerance", tolerances: &tolerances{0, 0}, target: 100, wantReplicas: 4, wantUtilization: 101, wantRaw: 2 * 1010,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{909, 1010, 1111}}},
		{name: "within 200% scale-up tolerance", tolerances: &tolerances{testTolerance, 2}, target: 100, wantReplicas: 3, wantUtilization: 190, wantRaw: 2 * 1900,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{1890, 1910, 1900}}},
		{name: "outside 8% scale-up tolerance (superfluous scale-down tolerance)", tolerances: &tolerances{2, .08}, target: 100, wantReplicas: 4, wantUtilization: 109, wantRaw: 2 * 1090,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{1100, 1080, 1090}}},
		{name: "within 36% scale-down tolerance", tolerances: &tolerances{.36, testTolerance}, target: 100, wantReplicas: 3, wantUtilization: 65, wantRaw: 2 * 650,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{660, 640, 650}}},
		{name: "outside 34% scale-down tolerance", tolerances: &tolerances{.34, testTolerance}, target: 100, wantReplicas: 2, wantUtilization: 65, wantRaw: 2 * 650,
			fixture: calcScenario{current: 3, requests: mixed, levels: []int64{660, 640, 650}}},
	})
}

func TestReplicaCalcResourceMissingMetrics(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	run := corev1.PodRunning
	runResourceCases(t, []resourceCase{
		// Upstream counts the two extra samples in its comment but not in the result: they
		// have no request, so its ratio skips them, and so do we.
		{name: "superfluous metrics counted", target: 100, wantReplicas: 24, wantUtilization: 587, wantRaw: 2 * 5875,
			fixture: calcScenario{current: 4, requests: requests(4, 1000), levels: []int64{4000, 9500, 3000, 7000, 3200, 2000}}},
		{name: "some pods missing metrics scales down", target: 100, wantReplicas: 3, wantUtilization: 24, wantRaw: 495,
			fixture: calcScenario{current: 4, requests: requests(4, 1000), levels: []int64{400, 95}}},
		{name: "no change: metric equal to target", target: 100, wantReplicas: 2, wantUtilization: 100, wantRaw: 2 * 1000,
			fixture: calcScenario{current: 2, requests: requests(2, 1000), levels: []int64{1000}}},
		{name: "no change: metric above target", target: 100, wantReplicas: 2, wantUtilization: 190, wantRaw: 2 * 1900,
			fixture: calcScenario{current: 2, requests: requests(2, 1000), levels: []int64{1900}}},
		{name: "no change: metric below target", target: 100, wantReplicas: 2, wantUtilization: 60, wantRaw: 2 * 600,
			fixture: calcScenario{current: 2, requests: requests(2, 1000), levels: []int64{600}}},
		{name: "no change: unready pod metric missing", target: 50, wantReplicas: 3, wantUtilization: 45, wantRaw: 2 * 450,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, T}, requests: requests(3, 1000), levels: []int64{100, 450}}},
		{name: "no change: hot-CPU pod metric missing", target: 50, wantReplicas: 3, wantUtilization: 45, wantRaw: 2 * 450,
			fixture: calcScenario{current: 3, startTime: []time.Time{hot, cool, cool}, requests: requests(3, 1000), levels: []int64{100, 450}}},
		{name: "scale up: unready pod metric missing", target: 50, wantReplicas: 4, wantUtilization: 200, wantRaw: 2 * 2000,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, T}, requests: requests(3, 1000), levels: []int64{100, 2000}}},
		{name: "scale up: hot-CPU pod metric missing", target: 50, wantReplicas: 4, wantUtilization: 200, wantRaw: 2 * 2000,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, T}, startTime: []time.Time{hot, cool, cool}, requests: requests(3, 1000), levels: []int64{100, 2000}}},
		{name: "scale down: unready pod metric missing", target: 50, wantReplicas: 3, wantUtilization: 10, wantRaw: 2 * 100,
			fixture: calcScenario{current: 4, readiness: []corev1.ConditionStatus{F, T, T, T}, requests: requests(4, 1000), levels: []int64{100, 100, 100}}},
		{name: "scale down: target over 100", target: 300, wantReplicas: 2, wantUtilization: 6, wantRaw: 2 * 100,
			fixture: calcScenario{current: 4, readiness: []corev1.ConditionStatus{F, T, T, T}, requests: []int64{1000, 1000, 2000, 2000}, levels: []int64{200, 100, 100}}},
		{name: "rolling update with maxSurge: extra pod missing metric", target: 50, wantReplicas: 2, wantUtilization: 10, wantRaw: 2 * 100,
			fixture: calcScenario{current: 2, phase: []corev1.PodPhase{run, run, run}, requests: requests(3, 1000), levels: []int64{100, 100}}},
		// Upstream fails in its ratio ("no metrics returned matched known pods"); here the
		// pod is missing its metric and no pod has one.
		{name: "disjoint pod and metric names", target: 100, wantErr: "did not receive metrics for targeted pods",
			fixture: calcScenario{current: 1, requests: requests(1, 1000), levels: []int64{100}, podNames: []string{"an-older-pod-name"}}},
		{name: "no metrics returned from metrics API", target: 100, wantErr: "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
			fixture: calcScenario{current: 4, requests: requests(3, 1000)}},
		{name: "missing CPU request on container", target: 100, wantErr: "missing request for",
			fixture: calcScenario{current: 1, levels: []int64{200}}},
	})
}

func TestReplicaCalcComputedToleranceAlgImplementation(t *testing.T) {
	const startPods = 10
	totalUsed := int64(startPods * 150)
	totalRequested := int32(2 * totalUsed)
	requestedToUsed := float64(totalRequested / int32(totalUsed))
	perPod := int64(totalRequested / startPods)
	fixture := calcScenario{
		current:  startPods,
		levels:   []int64{150, 150, 150, 150, 150, 150, 150, 150, 150, 150},
		requests: []int64{perPod + 100, perPod - 100, perPod + 10, perPod - 10, perPod + 2, perPod - 2, perPod + 1, perPod - 1, perPod, perPod},
	}
	target := math.Abs(1/(requestedToUsed*(1-testTolerance))) + .01
	ratio := float64(totalUsed) / (float64(totalRequested) * target)
	wantUtilization := int32(totalUsed*100) / totalRequested
	runResourceCases(t, []resourceCase{
		{name: "minimal scale-down", fixture: fixture, target: int32(target * 100), wantReplicas: int32(math.Ceil(ratio * startPods)), wantUtilization: wantUtilization, wantRaw: containersPerPod * totalUsed / 10},
		{name: "no scale-down just inside tolerance", fixture: fixture, target: int32((math.Abs(1/(requestedToUsed*(1-testTolerance))) + .004) * 100), wantReplicas: startPods, wantUtilization: wantUtilization, wantRaw: containersPerPod * totalUsed / 10},
	})
}

// TestReplicaCalcPodMetric ports upstream's Pods metric cases (GetMetricReplicas), through
// the Pods metric type and through a memory AverageValue target, which HPA computes the same
// way (calcPlainMetricReplicas, a running pod with data counts whatever its Ready condition).
func TestReplicaCalcPodMetric(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	run := corev1.PodRunning
	cases := []struct {
		name         string
		fixture      calcScenario
		tolerances   *tolerances
		target       int64 // milli
		wantReplicas int32
		wantUsage    int64 // milli
	}{
		{name: "scale up", target: 15000, wantReplicas: 4, wantUsage: 20000,
			fixture: calcScenario{current: 3, levels: []int64{20000, 10000, 30000}}},
		{name: "scale up: unready hot-CPU pod scales less", target: 15000, wantReplicas: 6, wantUsage: 30000,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{T, T, F}, startTime: []time.Time{cool, cool, hot}, levels: []int64{50000, 10000, 30000}}},
		{name: "scale up: unready hot-CPU pods avoid scale-down", target: 15000, wantReplicas: 7, wantUsage: 31666,
			fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, F}, startTime: []time.Time{hot, cool, hot}, levels: []int64{50000, 15000, 30000}}},
		{name: "scale down", target: 20000, wantReplicas: 3, wantUsage: 12000,
			fixture: calcScenario{current: 5, levels: []int64{12000, 12000, 12000, 12000, 12000}}},
		{name: "within default tolerance", target: 20000, wantReplicas: 3, wantUsage: 20666,
			fixture: calcScenario{current: 3, levels: []int64{20000, 21000, 21000}}},
		{name: "outside configurable 1% tolerance", tolerances: &tolerances{testTolerance, .01}, target: 20000, wantReplicas: 4, wantUsage: 20666,
			fixture: calcScenario{current: 3, levels: []int64{20000, 21000, 21000}}},
		{name: "no change: missing metrics", target: 20000, wantReplicas: 5, wantUsage: 20000,
			fixture: calcScenario{current: 5, levels: []int64{20000, 19000, 21000}}},
		{name: "rolling update with maxSurge: extra pod missing metric", target: 17000, wantReplicas: 2, wantUsage: 10000,
			fixture: calcScenario{current: 2, phase: []corev1.PodPhase{run, run, run}, levels: []int64{10000, 10000}}},
	}
	for _, tc := range cases {
		tol := defaultTolerances()
		if tc.tolerances != nil {
			tol = *tc.tolerances
		}
		check := func(t *testing.T, in *Input, m *v1alpha1.MetricSpec, wantUsage string) {
			t.Helper()
			var ev evaluation
			testEvaluator(in, tol).evaluate(m, &ev)
			if ev.err != nil {
				t.Fatalf("unexpected error: %v", ev.err)
			}
			if ev.replicas != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", ev.replicas, tc.wantReplicas)
			}
			if ev.status.Current != wantUsage {
				t.Errorf("usage = %s, want %s", ev.status.Current, wantUsage)
			}
		}
		t.Run(tc.name+"/Pods", func(t *testing.T) {
			m := podsSpec("qps", tc.target)
			in := &Input{CurrentReplicas: tc.fixture.current, Pods: tc.fixture.pods(),
				MetricsAPI: map[string]APIMetric{MetricsAPIKey(&m): {Pods: tc.fixture.podValues()}}}
			check(t, in, &m, milliQuantity(tc.wantUsage))
		})
		t.Run(tc.name+"/Resource memory AverageValue", func(t *testing.T) {
			m := v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
				Name: corev1.ResourceMemory,
				Target: v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType,
					AverageValue: resource.NewMilliQuantity(tc.target, resource.DecimalSI)},
			}}
			in := &Input{CurrentReplicas: tc.fixture.current, Pods: tc.fixture.pods(),
				Resources: map[corev1.ResourceName]map[string]ResourceUsage{corev1.ResourceMemory: tc.fixture.usage(1)}}
			check(t, in, &m, quantity(corev1.ResourceMemory, tc.wantUsage))
		})
	}
}

// TestReplicaCalcObjectMetric ports upstream's object metric cases (GetObjectMetricReplicas)
// through the Object metric type with a Value target, and through objectReplicas, the same
// rule that the Latency metric uses.
func TestReplicaCalcObjectMetric(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	cases := []struct {
		name         string
		fixture      calcScenario
		tolerances   *tolerances
		usage        int64 // milli
		target       int64 // milli
		wantReplicas int32
	}{
		{name: "scale up", fixture: calcScenario{current: 3}, usage: 20000, target: 15000, wantReplicas: 4},
		{name: "scale up: very large metric saturates replicas to MaxInt32", fixture: calcScenario{current: 3}, usage: math.MaxInt64, target: 1, wantReplicas: math.MaxInt32},
		{name: "scale up: ignores unready pods", fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, F}}, usage: 50000, target: 10000, wantReplicas: 5},
		{name: "scale down", fixture: calcScenario{current: 5}, usage: 12000, target: 20000, wantReplicas: 3},
		{name: "within default tolerance", fixture: calcScenario{current: 3}, usage: 20666, target: 20000, wantReplicas: 3},
		{name: "outside configurable 1% tolerance", tolerances: &tolerances{testTolerance, .01}, fixture: calcScenario{current: 3}, usage: 20666, target: 20000, wantReplicas: 4},
	}
	for _, tc := range cases {
		tol := defaultTolerances()
		if tc.tolerances != nil {
			tol = *tc.tolerances
		}
		t.Run(tc.name+"/Object", func(t *testing.T) {
			m := objectSpec(v1alpha1.ValueMetricType, tc.target)
			in := &Input{CurrentReplicas: tc.fixture.current, StatusReplicas: tc.fixture.current, Pods: tc.fixture.pods(),
				MetricsAPI: map[string]APIMetric{MetricsAPIKey(&m): {Value: tc.usage}}}
			ev := evaluateOne(t, in, &m, tol)
			if ev.replicas != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", ev.replicas, tc.wantReplicas)
			}
			if want := milliQuantity(tc.usage); ev.status.Current != want {
				t.Errorf("usage = %s, want %s", ev.status.Current, want)
			}
		})
		t.Run(tc.name+"/objectReplicas", func(t *testing.T) {
			got := objectReplicas(tc.fixture.current, float64(tc.usage)/float64(tc.target), readyPods(tc.fixture.pods()), tol)
			if got != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", got, tc.wantReplicas)
			}
		})
	}
}

// valueCase is one of upstream's metricCase or perPodMetricCase of a single value (an object's,
// or an external metric's series summed); status.replicas is the current replicas, as
// upstream's fixture passes them.
type valueCase struct {
	name         string
	fixture      calcScenario
	tolerances   *tolerances
	usage        []int64 // milli; one for an object, the series for an external metric
	target       int64   // milli, per pod for an AverageValue target
	wantReplicas int32
	wantUsage    int64 // milli, per pod for an AverageValue target
}

func runValueCases(t *testing.T, cases []valueCase, spec func(target int64) v1alpha1.MetricSpec) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tol := defaultTolerances()
			if tc.tolerances != nil {
				tol = *tc.tolerances
			}
			m := spec(tc.target)
			var sum int64
			for _, v := range tc.usage {
				sum = saturatingSum(sum, v)
			}
			in := &Input{CurrentReplicas: tc.fixture.current, StatusReplicas: tc.fixture.current, Pods: tc.fixture.pods(),
				MetricsAPI: map[string]APIMetric{MetricsAPIKey(&m): {Value: sum}}}
			ev := evaluateOne(t, in, &m, tol)
			if ev.replicas != tc.wantReplicas {
				t.Errorf("replicas = %d, want %d", ev.replicas, tc.wantReplicas)
			}
			if want := milliQuantity(tc.wantUsage); ev.status.Current != want {
				t.Errorf("usage = %s, want %s", ev.status.Current, want)
			}
		})
	}
}

// saturatingSum is what the caller's external metrics client does with the series.
func saturatingSum(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func TestReplicaCalcObjectPerPodMetric(t *testing.T) {
	runValueCases(t, []valueCase{
		{name: "scale up", fixture: calcScenario{current: 3}, usage: []int64{20000}, target: 5000, wantReplicas: 4, wantUsage: 6667},
		{name: "scale down", fixture: calcScenario{current: 5}, usage: []int64{6000}, target: 2000, wantReplicas: 3, wantUsage: 1200},
		{name: "within default tolerance", fixture: calcScenario{current: 4}, usage: []int64{20166}, target: 5000, wantReplicas: 4, wantUsage: 5042},
		{name: "outside configurable 1% tolerance", tolerances: &tolerances{testTolerance, .01}, fixture: calcScenario{current: 4}, usage: []int64{20208}, target: 5000, wantReplicas: 5, wantUsage: 5052},
	}, func(target int64) v1alpha1.MetricSpec { return objectSpec(v1alpha1.AverageValueMetricType, target) })
}

func TestReplicaCalcExternalPerPodMetric(t *testing.T) {
	runValueCases(t, []valueCase{
		{name: "replica count overflow saturates to MaxInt32", fixture: calcScenario{current: 1}, usage: []int64{math.MaxInt64}, target: 1, wantReplicas: math.MaxInt32, wantUsage: math.MaxInt64},
		{name: "usage overflow with huge target leaves replicas unchanged", fixture: calcScenario{current: 1}, usage: []int64{math.MaxInt64}, target: math.MaxInt64, wantReplicas: 1, wantUsage: math.MaxInt64},
		{name: "scale up", fixture: calcScenario{current: 3}, usage: []int64{8600}, target: 2150, wantReplicas: 4, wantUsage: 2867},
		{name: "scale down", fixture: calcScenario{current: 5}, usage: []int64{8600}, target: 2867, wantReplicas: 3, wantUsage: 1720},
		{name: "within default tolerance", fixture: calcScenario{current: 3}, usage: []int64{8600}, target: 2900, wantReplicas: 3, wantUsage: 2867},
		{name: "outside configurable 1% tolerance", tolerances: &tolerances{testTolerance, .01}, fixture: calcScenario{current: 3}, usage: []int64{8600}, target: 2800, wantReplicas: 4, wantUsage: 2867},
	}, func(target int64) v1alpha1.MetricSpec { return externalSpec(v1alpha1.AverageValueMetricType, target) })
}

func TestReplicaCalcExternalMetric(t *testing.T) {
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	runValueCases(t, []valueCase{
		// Would be 6 if unready pods counted.
		{name: "scale down: ignores unready pods (would otherwise scale up)", fixture: calcScenario{current: 3, readiness: []corev1.ConditionStatus{F, T, F}},
			usage: []int64{8600}, target: 4400, wantReplicas: 2, wantUsage: 8600},
		{name: "scale down", fixture: calcScenario{current: 5}, usage: []int64{8600}, target: 14334, wantReplicas: 3, wantUsage: 8600},
		{name: "within default tolerance", fixture: calcScenario{current: 3}, usage: []int64{8600}, target: 8888, wantReplicas: 3, wantUsage: 8600},
		{name: "outside configurable 1% tolerance", tolerances: &tolerances{testTolerance, .01}, fixture: calcScenario{current: 3}, usage: []int64{8900}, target: 8800, wantReplicas: 4, wantUsage: 8900},
		{name: "usage overflow caps at MaxInt64", fixture: calcScenario{current: 3}, usage: []int64{math.MaxInt64/2 + 1, math.MaxInt64/2 + 1}, target: math.MaxInt64, wantReplicas: 3, wantUsage: math.MaxInt64},
	}, func(target int64) v1alpha1.MetricSpec { return externalSpec(v1alpha1.ValueMetricType, target) })
}

// TestMetricsAPIFailuresAreHPAs: a metric the adapters could not answer is invalid with HPA's
// reason and the client's error.
func TestMetricsAPIFailuresAreHPAs(t *testing.T) {
	pods := podsSpec("qps", 1000)
	object := objectSpec(v1alpha1.ValueMetricType, 1000)
	external := externalSpec(v1alpha1.ValueMetricType, 1000)
	failure := errors.New("unable to fetch metrics from external metrics API: the server is currently unable to handle the request")
	for _, tc := range []struct {
		m          v1alpha1.MetricSpec
		api        map[string]APIMetric
		wantReason string
		wantErr    string
	}{
		{m: pods, wantReason: reasonFailedGetPodsMetric, wantErr: "not read from custom.metrics.k8s.io"},
		{m: pods, api: map[string]APIMetric{MetricsAPIKey(&pods): {Pods: map[string]int64{"someone-else": 1}}}, wantReason: reasonFailedGetPodsMetric, wantErr: "did not receive metrics for targeted pods"},
		{m: object, wantReason: reasonFailedGetObjectMetric, wantErr: "not read from custom.metrics.k8s.io"},
		{m: external, api: map[string]APIMetric{MetricsAPIKey(&external): {Err: failure}}, wantReason: reasonFailedGetExternalMetric, wantErr: failure.Error()},
	} {
		t.Run(string(tc.m.Type)+" "+tc.wantErr, func(t *testing.T) {
			in := &Input{CurrentReplicas: 2, StatusReplicas: 2, Pods: (&calcScenario{current: 2}).pods(), MetricsAPI: tc.api}
			var ev evaluation
			testEvaluator(in, defaultTolerances()).evaluate(&tc.m, &ev)
			if ev.err == nil || !strings.Contains(ev.err.Error(), tc.wantErr) || ev.failReason != tc.wantReason {
				t.Fatalf("err %v (%s), want %q (%s)", ev.err, ev.failReason, tc.wantErr, tc.wantReason)
			}
		})
	}
}

func evaluateOne(t *testing.T, in *Input, m *v1alpha1.MetricSpec, tol tolerances) evaluation {
	t.Helper()
	var ev evaluation
	testEvaluator(in, tol).evaluate(m, &ev)
	if ev.err != nil {
		t.Fatalf("unexpected error: %v", ev.err)
	}
	return ev
}

func podsSpec(name string, target int64) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.PodsMetricType, Pods: &v1alpha1.PodsMetricSource{
		Metric: v1alpha1.MetricIdentifier{Name: name},
		Target: v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: resource.NewMilliQuantity(target, resource.DecimalSI)},
	}}
}

// objectSpec is upstream's object metric "qps" of its test Deployment.
func objectSpec(typ v1alpha1.MetricTargetType, target int64) v1alpha1.MetricSpec {
	src := &v1alpha1.ObjectMetricSource{
		DescribedObject: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "some-deployment"},
		Metric:          v1alpha1.MetricIdentifier{Name: "qps"},
		Target:          v1alpha1.MetricTarget{Type: typ},
	}
	setValueTarget(&src.Target, target)
	return v1alpha1.MetricSpec{Type: v1alpha1.ObjectMetricType, Object: src}
}

// externalSpec is upstream's external metric "qps" with its testExternalSelector.
func externalSpec(typ v1alpha1.MetricTargetType, target int64) v1alpha1.MetricSpec {
	src := &v1alpha1.ExternalMetricSource{
		Metric: v1alpha1.MetricIdentifier{Name: "qps", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"label": "value"}}},
		Target: v1alpha1.MetricTarget{Type: typ},
	}
	setValueTarget(&src.Target, target)
	return v1alpha1.MetricSpec{Type: v1alpha1.ExternalMetricType, External: src}
}

func setValueTarget(t *v1alpha1.MetricTarget, milli int64) {
	q := resource.NewMilliQuantity(milli, resource.DecimalSI)
	if t.Type == v1alpha1.AverageValueMetricType {
		t.AverageValue = q
	} else {
		t.Value = q
	}
}

// TestGroupPods ports the cases of upstream's TestGroupPods that a Pod can express.
func TestGroupPods(t *testing.T) {
	now := t0
	cases := []struct {
		name      string
		pod       Pod
		hasMetric bool
		sample    ResourceUsage
		rule      readinessRule
		want      podClass
	}{
		{name: "count in a ready pod - memory", pod: Pod{Phase: corev1.PodSucceeded}, hasMetric: true, rule: runningIsReady, want: podReady},
		{name: "unready a pod without ready condition - CPU", pod: Pod{Phase: corev1.PodSucceeded, StartTime: now}, hasMetric: true, rule: cpuRules, want: podUnready},
		{name: "count in a ready pod with fresh metrics during initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-1 * time.Minute), Ready: corev1.ConditionTrue, ReadyTransition: now.Add(-30 * time.Second)},
			hasMetric: true, sample: ResourceUsage{Timestamp: now, Window: 30 * time.Second}, rule: cpuRules, want: podReady},
		{name: "unready a ready pod without fresh metrics during initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-1 * time.Minute), Ready: corev1.ConditionTrue, ReadyTransition: now.Add(-30 * time.Second)},
			hasMetric: true, sample: ResourceUsage{Timestamp: now, Window: 60 * time.Second}, rule: cpuRules, want: podUnready},
		{name: "unready an unready pod during initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute), Ready: corev1.ConditionFalse, ReadyTransition: now.Add(-9*time.Minute - 54*time.Second)},
			hasMetric: true, rule: cpuRules, want: podUnready},
		{name: "count in a ready pod without fresh metrics after initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute), Ready: corev1.ConditionTrue, ReadyTransition: now.Add(-3 * time.Minute)},
			hasMetric: true, sample: ResourceUsage{Timestamp: now.Add(-2 * time.Minute), Window: time.Minute}, rule: cpuRules, want: podReady},
		{name: "count in an unready pod that was ready after initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute), Ready: corev1.ConditionFalse, ReadyTransition: now.Add(-9 * time.Minute)},
			hasMetric: true, rule: cpuRules, want: podReady},
		// Upstream's name says unready; its expectation, and so ours, is ready: the
		// transition is exactly the readiness delay after the start, not after it.
		{name: "unready pod that has never been ready after initialization period - CPU",
			pod:       Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-10 * time.Minute), Ready: corev1.ConditionFalse, ReadyTransition: now.Add(-9*time.Minute - 50*time.Second)},
			hasMetric: true, rule: cpuRules, want: podReady},
		{name: "a missing pod", pod: Pod{Phase: corev1.PodSucceeded, StartTime: now.Add(-3 * time.Minute)}, rule: cpuRules, want: podMissing},
		{name: "pending pods are unreadied", pod: Pod{Phase: corev1.PodPending}, rule: cpuRules, want: podUnready},
		{name: "ignore pods with deletion timestamps", pod: Pod{Phase: corev1.PodPending, Terminating: true}, hasMetric: true, rule: cpuRules, want: podIgnored},
		{name: "ignore pods in a failed state", pod: Pod{Phase: corev1.PodFailed}, hasMetric: true, rule: cpuRules, want: podIgnored},
		// The agents' rule: a pod counts only while Ready.
		{name: "agents: unready running pod", pod: Pod{Phase: corev1.PodRunning, Ready: corev1.ConditionFalse}, hasMetric: true, rule: readyCondition, want: podUnready},
		{name: "agents: ready running pod", pod: Pod{Phase: corev1.PodRunning, Ready: corev1.ConditionTrue}, hasMetric: true, rule: readyCondition, want: podReady},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &evaluator{now: now, cpuInitializationPeriod: testCPUInitializationPeriod, delayOfInitialReadinessStatus: testDelayOfInitialReadinessStatus}
			if got := e.classify(&tc.pod, tc.hasMetric, tc.rule, tc.sample); got != tc.want {
				t.Errorf("class = %d, want %d", got, tc.want)
			}
		})
	}
}
