package optin

import (
	"context"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/workload"
)

func TestClientLookup(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "llama", Namespace: "ai", UID: "d1", Annotations: on("true")},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "llama"}}}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "llama-abc", Namespace: "ai", UID: "r1", Labels: podLabels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "d1", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: podLabels}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{NamespaceLabel: NamespaceEnabled}}}
	pol := &v1alpha1.AutoscalingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "llama-policy", Namespace: "ai"},
		Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
			Metrics: []v1alpha1.MetricSpec{gauge("vllm:num_requests_waiting"), {Type: v1alpha1.QueueDepthMetricType}, gauge("vllm:num_requests_running")}}}
	// Only the live reader has the Deployment: a cache that has not seen it yet.
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rs, ns, pol).Build()
	live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dep).Build()
	l := &ClientLookup{ClientGetter: workload.ClientGetter{Cache: cache, Live: live}}
	ctx := context.Background()

	labels, err := l.NamespaceLabels(ctx, "ai")
	if err != nil || labels[NamespaceLabel] != NamespaceEnabled {
		t.Errorf("namespace labels %v, %v", labels, err)
	}
	owners, err := workload.Chain(ctx, workload.Pod{Namespace: "ai", Labels: podLabels, Owners: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "r1", Controller: ptr.To(true)}}}, l)
	if err != nil || len(owners) != 2 || owners[0].String() != "ReplicaSet/llama-abc" || owners[1].Annotations[AnnotationInject] != "true" {
		t.Fatalf("owners %+v, %v; want the ReplicaSet from the cache, the Deployment from the live reader", owners, err)
	}
	if o, err := l.Get(ctx, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), "ai", "gone"); err != nil || o != nil {
		t.Errorf("missing owner: %+v, %v; want none", o, err)
	}
	if o, err := l.Get(ctx, workload.SeldonDeploymentGVK, "ai", "iris"); err != nil || o != nil {
		t.Errorf("owner of a kind without CRD: %+v, %v; want none", o, err)
	}
	notCached := &ClientLookup{ClientGetter: workload.ClientGetter{Cache: uncached{}}}
	if o, err := notCached.Get(ctx, appsv1.SchemeGroupVersion.WithKind("StatefulSet"), "ai", "web"); err != nil || o != nil {
		t.Errorf("owner of a kind without an informer: %+v, %v; want none, at once", o, err)
	}
	name, err := l.PolicyTargeting(ctx, "ai", schema.GroupKind{Group: "apps", Kind: "Deployment"}, "llama")
	if err != nil || name != "llama-policy" {
		t.Errorf("policy %q, %v", name, err)
	}
	if name, _ := l.PolicyTargeting(ctx, "ai", schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "llama"); name != "" {
		t.Errorf("policy %q targets a StatefulSet of the same name", name)
	}
	gauges, err := l.PolicyModelMetrics(ctx, "ai", owners)
	if err != nil || !slices.Equal(gauges, []string{"vllm:num_requests_waiting", "vllm:num_requests_running"}) {
		t.Errorf("model metrics of the pod's policies %q, %v", gauges, err)
	}
}

func gauge(name string) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: name}}
}

// TestModelMetricsOf: the gauges of every policy that targets one of the owners, HPA's
// scaleTargetRef included, each once; other targets' and deleted policies' are not.
func TestModelMetricsOf(t *testing.T) {
	owners := []workload.Owner{
		{GroupKind: schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, Name: "llama-abc"},
		{GroupKind: schema.GroupKind{Group: "apps", Kind: "Deployment"}, Name: "llama"},
	}
	ref := func(kind, name string) v1alpha1.CrossVersionObjectReference {
		return v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: name}
	}
	now := metav1.Now()
	policies := []v1alpha1.AutoscalingPolicy{
		{Spec: v1alpha1.AutoscalingPolicySpec{ScaleTargetRef: ref("Deployment", "llama"), Metrics: []v1alpha1.MetricSpec{gauge("a"), gauge("b")}}},
		{Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: ref("ReplicaSet", "llama-abc"), Metrics: []v1alpha1.MetricSpec{gauge("b"), gauge("c")}}},
		{Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: ref("Deployment", "mistral"), Metrics: []v1alpha1.MetricSpec{gauge("other")}}},
		{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: ref("Deployment", "llama"), Metrics: []v1alpha1.MetricSpec{gauge("gone")}}},
	}
	if got := ModelMetricsOf(policies, owners); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ModelMetricsOf = %q, want a, b, c", got)
	}
}

// uncached is a cache built with ReaderFailOnMissingInformer that has no informer at all.
type uncached struct{ client.Reader }

func (uncached) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	return &crcache.ErrResourceNotCached{GVK: obj.GetObjectKind().GroupVersionKind()}
}
