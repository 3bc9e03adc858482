package optin

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func TestClientLookup(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "llama", Namespace: "ai", UID: "d1", Annotations: on("true")}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "llama-abc", Namespace: "ai", UID: "r1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "d1"}}}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai", Labels: map[string]string{NamespaceLabel: NamespaceEnabled}}}
	pol := &v1alpha1.AutoscalingPolicy{ObjectMeta: metav1.ObjectMeta{Name: "llama-policy", Namespace: "ai"},
		Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"}}}
	// Only the live reader has the Deployment: a cache that has not seen it yet.
	cache := fake.NewClientBuilder().WithScheme(scheme).WithObjects(rs, ns, pol).Build()
	live := fake.NewClientBuilder().WithScheme(scheme).WithObjects(dep).Build()
	l := &ClientLookup{Cache: cache, Live: live}
	ctx := context.Background()

	labels, err := l.NamespaceLabels(ctx, "ai")
	if err != nil || labels[NamespaceLabel] != NamespaceEnabled {
		t.Errorf("namespace labels %v, %v", labels, err)
	}
	o, err := l.Owner(ctx, "ai", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "r1"})
	if err != nil || o == nil || o.String() != "ReplicaSet/llama-abc" || len(o.Owners) != 1 {
		t.Fatalf("replicaset %+v, %v", o, err)
	}
	o, err = l.Owner(ctx, "ai", o.Owners[0])
	if err != nil || o == nil || o.Annotations[AnnotationInject] != "true" {
		t.Errorf("deployment from the live reader: %+v, %v", o, err)
	}
	if o, err := l.Owner(ctx, "ai", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "other"}); err != nil || o != nil {
		t.Errorf("owner with another UID: %+v, %v; want none", o, err)
	}
	if o, err := l.Owner(ctx, "ai", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone"}); err != nil || o != nil {
		t.Errorf("missing owner: %+v, %v; want none", o, err)
	}
	if o, err := l.Owner(ctx, "ai", metav1.OwnerReference{APIVersion: SeldonDeploymentGVK.GroupVersion().String(), Kind: "SeldonDeployment", Name: "iris"}); err != nil || o != nil {
		t.Errorf("owner of a kind without CRD: %+v, %v; want none", o, err)
	}
	name, err := l.PolicyTargeting(ctx, "ai", schema.GroupKind{Group: "apps", Kind: "Deployment"}, "llama")
	if err != nil || name != "llama-policy" {
		t.Errorf("policy %q, %v", name, err)
	}
	if name, _ := l.PolicyTargeting(ctx, "ai", schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "llama"); name != "" {
		t.Errorf("policy %q targets a StatefulSet of the same name", name)
	}
}

func TestTargets(t *testing.T) {
	gk := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	for _, tt := range []struct {
		ref  v1alpha1.CrossVersionObjectReference
		want bool
	}{
		{v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "a"}, true},
		{v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1beta2", Kind: "Deployment", Name: "a"}, true},
		{v1alpha1.CrossVersionObjectReference{APIVersion: "v1", Kind: "Deployment", Name: "a"}, false},
		{v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "b"}, false},
		{v1alpha1.CrossVersionObjectReference{APIVersion: "a/b/c", Kind: "Deployment", Name: "a"}, false},
	} {
		if got := Targets(tt.ref, gk, "a"); got != tt.want {
			t.Errorf("Targets(%+v) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}
