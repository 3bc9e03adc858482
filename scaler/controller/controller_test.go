package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/scale"
	scalefake "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/attribution"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
	"github.com/inferscale/inferscale/workload"
)

const ns = "ai"

var deployKey = target.Key{Namespace: ns, Group: "apps", Kind: "Deployment", Name: "llama"}

func testScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	s.AddKnownTypeWithName(workload.SeldonDeploymentGVK, &unstructured.Unstructured{})
	return s
}

func queuePolicy(name string, created time.Time) *v1alpha1.AutoscalingPolicy {
	return &v1alpha1.AutoscalingPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 2, CreationTimestamp: metav1.NewTime(created)},
		Spec: v1alpha1.AutoscalingPolicySpec{
			TargetRef:   v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
			MaxReplicas: 10,
			Metrics:     []v1alpha1.MetricSpec{{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("5")}}},
		},
	}
}

// llamaPodLabels are the labels of ReplicaSet llama-abc's pods: Deployment llama's, which
// every fixture has, with the ReplicaSet's pod-template-hash.
var llamaPodLabels = map[string]string{"app": "llama", workload.PodTemplateHashLabel: "abc"}

// llamaWorkload is Deployment llama and its ReplicaSet llama-abc, which own readyPod's pods.
func llamaWorkload() []client.Object {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "llama", UID: "uid-llama", Labels: map[string]string{"app": "llama"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llama"}}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "llama-abc", UID: "uid-llama-abc", Labels: llamaPodLabels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "uid-llama", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: llamaPodLabels}}}
	return []client.Object{dep, rs}
}

// readyPod is a pod of Deployment llama, Ready for an hour.
func readyPod(name string, now time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: maps.Clone(llamaPodLabels),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "uid-llama-abc", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "model", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
		}}}},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: &metav1.Time{Time: now.Add(-time.Hour)},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},
			},
		},
	}
}

type fixture struct {
	t        *testing.T
	c        *Controller
	client   client.Client
	store    *window.Store
	clock    *clocktesting.FakeClock
	events   *events.FakeRecorder
	scales   *scalefake.FakeScaleClient
	replicas int32
	updates  []int32
	getErr   error

	mu            sync.Mutex
	statusPatches int
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0)), replicas: 2, events: events.NewFakeRecorder(100)}
	b := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(append(llamaWorkload(), objs...)...)
	for _, ix := range Indexes() {
		b = b.WithIndex(ix.Object, ix.Field, ix.Extract)
	}
	f.client = b.
		WithStatusSubresource(&v1alpha1.AutoscalingPolicy{}, &v1alpha1.AutoscalingBudget{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			f.mu.Lock()
			f.statusPatches++
			f.mu.Unlock()
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}}).Build()

	f.scales = &scalefake.FakeScaleClient{}
	f.scales.AddReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		if f.getErr != nil {
			return true, nil, f.getErr
		}
		return true, &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "llama"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: f.replicas},
			Status:     autoscalingv1.ScaleStatus{Replicas: f.replicas, Selector: "app=llama"},
		}, nil
	})
	f.scales.AddReactor("update", "deployments", f.scaleUpdate)

	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	f.store = window.NewStore(f.clock)
	f.c = New(Options{
		Client: f.client, Mapper: mapper, Scales: f.scales, Store: f.store,
		Resolver: attribution.New(f.client, f.clock, time.Second),
		Events:   f.events, Metrics: NewMetrics(prometheus.NewRegistry()),
		Clock: f.clock, Log: logr.Discard(),
	})
	return f
}

// scaleUpdate is the fake /scale write: it records the count and keeps it.
func (f *fixture) scaleUpdate(a clienttesting.Action) (bool, runtime.Object, error) {
	sc := a.(clienttesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
	f.updates = append(f.updates, sc.Spec.Replicas)
	f.replicas = sc.Spec.Replicas
	return true, sc, nil
}

// report records one second of in-flight load for pod of the Deployment llama.
func (f *fixture) report(pod string, inFlight float64) {
	f.t.Helper()
	f.reportTo(deployKey, pod, inFlight)
}

// reportTo records one second of in-flight load for pod of target k.
func (f *fixture) reportTo(k target.Key, pod string, inFlight float64) {
	f.t.Helper()
	r := &reportv1.Report{
		Interval: reportv1.Interval{Start: f.clock.Now().Add(-time.Second), End: f.clock.Now()},
		InFlight: reportv1.Gauge{Average: inFlight, Max: inFlight},
	}
	if err := f.store.Record(k, window.Pod{Name: pod, UID: "uid-" + pod}, r); err != nil {
		f.t.Fatal(err)
	}
}

// load records the same in-flight load for pods over the next n seconds.
func (f *fixture) load(n int, inFlight float64, pods ...string) {
	f.t.Helper()
	for range n {
		f.clock.Step(time.Second)
		for _, p := range pods {
			f.report(p, inFlight)
		}
	}
}

func (f *fixture) policy(name string) *v1alpha1.AutoscalingPolicy {
	f.t.Helper()
	var p v1alpha1.AutoscalingPolicy
	if err := f.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		f.t.Fatal(err)
	}
	return &p
}

// tick runs what the manager runs in one Interval, in a fixed order: the budget loop reads
// the budgets' coverage, every policy is reconciled (a deleted one as its deletion event
// would), and the budget loop writes the budgets' status.
func (f *fixture) tick() {
	f.t.Helper()
	ctx := context.Background()
	f.c.coverBudgets(ctx)
	var list v1alpha1.AutoscalingPolicyList
	if err := f.client.List(ctx, &list); err != nil {
		f.t.Fatal(err)
	}
	keys := map[types.NamespacedName]bool{}
	for _, p := range list.Items {
		keys[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = true
	}
	f.c.mu.Lock()
	for nn := range f.c.policies {
		keys[nn] = true
	}
	f.c.mu.Unlock()
	for nn := range keys {
		res, err := f.c.Reconcile(ctx, reconcile.Request{NamespacedName: nn})
		if err != nil {
			f.t.Fatal(err)
		}
		if _, live := f.c.policies[nn]; live && res.RequeueAfter != f.c.opts.Interval {
			f.t.Fatalf("reconcile of %s asks to be requeued after %s, want the interval %s", nn, res.RequeueAfter, f.c.opts.Interval)
		}
	}
	f.c.writeBudgetStatus(ctx, logr.Discard(), f.clock.Now())
}

func drain(r *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestScalesUpAndRecordsIt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now))
	f.tick() // configures the store for the target
	if len(f.updates) != 0 {
		t.Fatalf("scaled without data: %v", f.updates)
	}
	f.load(3, 10, "a", "b")
	f.tick()
	// 2 pods at 10 in flight for a target of 5: 4 replicas.
	if len(f.updates) != 1 || f.updates[0] != 4 {
		t.Fatalf("/scale writes = %v, want [4]", f.updates)
	}
	evs := drain(f.events)
	if len(evs) != 1 || !strings.Contains(evs[0], "Normal SuccessfulRescale") || !strings.Contains(evs[0], "New size: 4") {
		t.Errorf("events = %q, want one SuccessfulRescale to 4", evs)
	}
	p := f.policy("llama")
	st := p.Status
	if st.DesiredReplicas != 4 || st.CurrentReplicas != 2 || st.ObservedGeneration != 2 || st.LastScaleTime == nil {
		t.Errorf("status = desired %d current %d generation %d lastScaleTime %v", st.DesiredReplicas, st.CurrentReplicas, st.ObservedGeneration, st.LastScaleTime)
	}
	if len(st.CurrentMetrics) != 1 || st.CurrentMetrics[0].RecommendedReplicas != 4 {
		t.Errorf("currentMetrics = %+v", st.CurrentMetrics)
	}
	for _, typ := range []string{v1alpha1.AbleToScale, v1alpha1.ScalingActive, v1alpha1.ScalingLimited} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.ObservedGeneration != 2 {
			t.Errorf("condition %s = %+v", typ, c)
		}
	}

	// The next tick with the same load changes nothing: no write, no event.
	f.tick()
	if len(f.updates) != 1 || len(drain(f.events)) != 0 {
		t.Errorf("a tick without a change wrote %v", f.updates)
	}
}

func TestHPAConflictHolds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hpa := hpaOnLlama()
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now), hpa)
	f.tick()
	f.clock.Step(time.Second)
	f.report("a", 10)
	f.report("b", 10)
	f.tick()
	if len(f.updates) != 0 {
		t.Fatalf("scaled a target an HPA scales: %v", f.updates)
	}
	c := meta.FindStatusCondition(f.policy("llama").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "old-hpa") {
		t.Errorf("AbleToScale = %+v, want False naming old-hpa", c)
	}
}

func TestScaleReadFailureIsACondition(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("llama", now))
	f.getErr = fmt.Errorf("deployments.apps \"llama\" not found")
	f.tick()
	c := meta.FindStatusCondition(f.policy("llama").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "FailedGetScale" {
		t.Errorf("AbleToScale = %+v, want False FailedGetScale", c)
	}
}

// A target whose /scale the scaler's RBAC does not cover: the condition names the permission
// and how to grant it.
func TestScaleForbiddenNamesThePermission(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("llama", now))
	f.getErr = apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments/scale"}, "llama", errors.New("RBAC: access denied"))
	f.tick()
	c := meta.FindStatusCondition(f.policy("llama").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonFailedGetScale {
		t.Fatalf("AbleToScale = %+v, want False FailedGetScale", c)
	}
	for _, want := range []string{"may not get deployments.apps/scale", AggregateToScalerLabel, "apiGroups [apps] resources [deployments/scale]"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
}

// The HPA Seldon's operator creates from an hpaSpec scales a child Deployment of the
// SeldonDeployment: for a policy on the SeldonDeployment it is a conflict; an HPA on another
// SeldonDeployment's Deployment is not.
func TestSeldonCreatedHPAIsAConflict(t *testing.T) {
	seldonHPA := func(name, id string) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{workload.SeldonDeploymentIDLabel: id}},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MaxReplicas:    3,
			},
		}
	}
	f := newFixture(t, seldonHPA("other-default-0-classifier", "other"))
	iris := target.Key{Namespace: ns, Group: workload.SeldonGroup, Kind: "SeldonDeployment", Name: "iris"}
	if got, err := f.c.hpaConflict(context.Background(), iris, nil); err != nil || got != "" {
		t.Errorf("another SeldonDeployment's HPA: conflict %q, %v", got, err)
	}
	f = newFixture(t, seldonHPA("iris-default-0-classifier", "iris"))
	got, err := f.c.hpaConflict(context.Background(), iris, nil)
	if err != nil || !strings.Contains(got, "iris-default-0-classifier") || !strings.Contains(got, "hpaSpec") {
		t.Errorf("Seldon's HPA on a child Deployment: conflict %q, %v; want it named", got, err)
	}
}

func TestSecondPolicyOnATargetIsRefused(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("first", now), queuePolicy("second", now.Add(time.Minute)), readyPod("a", now))
	f.tick()
	c := meta.FindStatusCondition(f.policy("second").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Reason != "AmbiguousPolicies" || !strings.Contains(c.Message, "first") {
		t.Errorf("second policy's AbleToScale = %+v, want AmbiguousPolicies naming first", c)
	}
	if c := meta.FindStatusCondition(f.policy("first").Status.Conditions, v1alpha1.AbleToScale); c != nil && c.Reason == "AmbiguousPolicies" {
		t.Errorf("the older policy was refused: %+v", c)
	}
}

func TestDeletedPolicyForgetsItsTarget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := queuePolicy("llama", now)
	f := newFixture(t, p, readyPod("a", now))
	f.tick()
	if len(f.store.Targets()) != 1 {
		t.Fatalf("targets after the first tick: %v", f.store.Targets())
	}
	if err := f.client.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if len(f.store.Targets()) != 0 {
		t.Errorf("targets after the policy was deleted: %v", f.store.Targets())
	}
}

func TestStatusWritesOfValuesAreThrottled(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := queuePolicy("llama", now)
	p.Spec.MaxReplicas = 2 // pinned at 2 whatever the load, so only the values change
	f := newFixture(t, p, readyPod("a", now), readyPod("b", now))
	f.tick()
	f.clock.Step(time.Second)
	f.report("a", 10)
	f.report("b", 10)
	f.tick()
	before := f.statusPatches
	for i := range 5 {
		f.clock.Step(time.Second)
		f.report("a", float64(11+i))
		f.report("b", float64(11+i))
		f.tick()
	}
	if f.statusPatches != before {
		t.Errorf("status written %d times within the status interval for value changes only", f.statusPatches-before)
	}
	f.clock.Step(15 * time.Second)
	f.report("a", 30)
	f.report("b", 30)
	f.tick()
	if f.statusPatches != before+1 {
		t.Errorf("status writes after the interval = %d, want 1", f.statusPatches-before)
	}
}

func TestRequestsCountSidecars(t *testing.T) {
	p := readyPod("a", time.Now())
	always := corev1.ContainerRestartPolicyAlways
	p.Spec.InitContainers = []corev1.Container{
		{Name: "agent", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}},
		{Name: "setup"}, // a plain init container does not count
	}
	got := requests(p)
	if got[corev1.ResourceCPU] != 600 {
		t.Errorf("cpu request = %d, want 600", got[corev1.ResourceCPU])
	}
	if _, ok := got[corev1.ResourceMemory]; ok {
		t.Error("memory request present though no container sets one")
	}
}

// gatedScales is a scale client whose calls first pass gate, which may block; the fixture's
// fake answers them after.
type gatedScales struct {
	inner scale.ScalesGetter
	gate  func(ctx context.Context, verb, name string) error
}

func (g *gatedScales) Scales(namespace string) scale.ScaleInterface {
	return &gatedScale{g: g, inner: g.inner.Scales(namespace)}
}

type gatedScale struct {
	g     *gatedScales
	inner scale.ScaleInterface
}

func (s *gatedScale) Get(ctx context.Context, gr schema.GroupResource, name string, opts metav1.GetOptions) (*autoscalingv1.Scale, error) {
	if err := s.g.gate(ctx, "get", name); err != nil {
		return nil, err
	}
	return s.inner.Get(ctx, gr, name, opts)
}

func (s *gatedScale) Update(ctx context.Context, gr schema.GroupResource, sc *autoscalingv1.Scale, opts metav1.UpdateOptions) (*autoscalingv1.Scale, error) {
	if err := s.g.gate(ctx, "update", sc.Name); err != nil {
		return nil, err
	}
	return s.inner.Update(ctx, gr, sc, opts)
}

func (s *gatedScale) Patch(ctx context.Context, gvr schema.GroupVersionResource, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (*autoscalingv1.Scale, error) {
	if err := s.g.gate(ctx, "patch", name); err != nil {
		return nil, err
	}
	return s.inner.Patch(ctx, gvr, name, pt, data, opts)
}

// A /scale read that never answers costs its policy the call timeout and a condition that
// says so; the reconcile does not hang.
func TestScaleReadIsBoundedByTheCallTimeout(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now))
	f.c.opts.CallTimeout = time.Millisecond
	f.c.opts.Scales = &gatedScales{inner: f.scales, gate: func(ctx context.Context, _, _ string) error {
		<-ctx.Done() // an API server that never answers
		return ctx.Err()
	}}
	f.tick()
	c := meta.FindStatusCondition(f.policy("llama").Status.Conditions, v1alpha1.AbleToScale)
	if c == nil || c.Reason != v1alpha1.ReasonFailedGetScale || !strings.Contains(c.Message, context.DeadlineExceeded.Error()) {
		t.Errorf("AbleToScale = %+v, want False FailedGetScale with the deadline", c)
	}
}

// A policy admitted with a maxReplicas above today's ceiling gets no more than the ceiling,
// and the reason says why.
func TestMaxReplicasCeilingCapsAnAdmittedPolicy(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := queuePolicy("llama", now)
	p.Spec.MaxReplicas = 5000
	f := newFixture(t, p, readyPod("a", now), readyPod("b", now))
	f.c.opts.MaxReplicasCeiling = 3
	f.tick()
	f.load(3, 1000, "a", "b")
	f.tick()
	if len(f.updates) != 1 || f.updates[0] != 3 {
		t.Fatalf("/scale writes = %v, want [3] (the ceiling)", f.updates)
	}
	if evs := drain(f.events); len(evs) != 1 || !strings.Contains(evs[0], "--max-replicas-ceiling 3 caps the policy's maxReplicas 5000") {
		t.Errorf("events = %q, want the rescale's reason to name the ceiling", evs)
	}
	c := meta.FindStatusCondition(f.policy("llama").Status.Conditions, v1alpha1.ScalingLimited)
	if c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("ScalingLimited = %+v, want True", c)
	}
}

// Reports the store refuses for its memory limit are told on the policy, once per
// holdEventRepeat however many follow.
func TestRefusedReportsAreAnEvent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now))
	f.tick()
	drain(f.events)
	f.store.SetMemoryLimit(0)
	for range 2 {
		if err := f.store.Record(deployKey, window.Pod{Name: "a", UID: "uid-a"}, &reportv1.Report{}); !errors.Is(err, window.ErrMemoryLimit) {
			t.Fatalf("Record at the limit: %v", err)
		}
	}
	f.tick()
	evs := drain(f.events)
	if len(evs) != 1 || !strings.Contains(evs[0], "Warning ReportMemoryLimit") || !strings.Contains(evs[0], "2 reports of the target refused") {
		t.Fatalf("events = %q, want one ReportMemoryLimit of 2 reports", evs)
	}
	if err := f.store.Record(deployKey, window.Pod{Name: "a", UID: "uid-a"}, &reportv1.Report{}); !errors.Is(err, window.ErrMemoryLimit) {
		t.Fatal(err)
	}
	f.clock.Step(time.Second)
	f.tick()
	if evs := drain(f.events); len(evs) != 0 {
		t.Errorf("events within the repeat interval = %q, want none", evs)
	}
}

// Policies are decided independently: while one policy's /scale read hangs, another policy's
// decision is made and written by the policy controller (controller-runtime's workqueue, as
// SetupWithManager builds it, fed from a channel instead of the cache's watch).
func TestBlockedPolicyDoesNotDelayAnother(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	slow := queuePolicy("slow", now)
	slow.Spec.TargetRef.Name = "slow"
	f := newFixture(t, slow, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now))
	f.c.opts.CallTimeout = time.Hour // the hang ends with the test, not with a timeout
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blocked, written := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.c.opts.Scales = &gatedScales{inner: f.scales, gate: func(ctx context.Context, verb, name string) error {
		switch {
		case name == "slow":
			once.Do(func() { close(blocked) })
			<-ctx.Done()
			return ctx.Err()
		case verb == "update":
			defer func() {
				select {
				case written <- struct{}{}:
				case <-ctx.Done():
				}
			}()
		}
		return nil
	}}
	// llama's first decision configures its windows; then it has load for 4 replicas.
	if _, err := f.c.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "llama"}}); err != nil {
		t.Fatal(err)
	}
	f.load(3, 10, "a", "b")

	events := make(chan event.GenericEvent)
	ctl, err := crcontroller.NewUnmanaged("policies-test", crcontroller.Options{
		Reconciler: f.c, MaxConcurrentReconciles: 2, SkipNameValidation: ptr.To(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Watch(source.Channel(events, &handler.EnqueueRequestForObject{})); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Start(ctx) }()
	events <- event.GenericEvent{Object: slow}
	<-blocked // slow's reconcile holds a worker, inside its /scale read
	events <- event.GenericEvent{Object: f.policy("llama")}
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("controller stopped: %v", err)
	case <-time.After(time.Minute): // a guard against a hang, not a measurement
		t.Fatal("llama's decision waited for slow's hanging /scale read")
	}
	cancel()
	<-done
	if len(f.updates) != 1 || f.updates[0] != 4 {
		t.Errorf("/scale writes = %v, want llama's [4]", f.updates)
	}
}
