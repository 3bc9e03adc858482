package attribution

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

const ns = "ai"

var seldonGVK = schema.GroupVersionKind{Group: workload.SeldonGroup, Version: "v1", Kind: "SeldonDeployment"}

func owner(apiVersion, kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: ptr.To(true)}}
}

func objMeta(name, kind string, owners []metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(kind + "-" + name), OwnerReferences: owners}
}

func policy(name, apiVersion, kind, targetName string) *v1alpha1.AutoscalingPolicy {
	return &v1alpha1.AutoscalingPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.AutoscalingPolicySpec{
			TargetRef:   v1alpha1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: targetName},
			MaxReplicas: 5,
		},
	}
}

func pod(name string, owners []metav1.OwnerReference, lbls map[string]string) *corev1.Pod {
	m := objMeta(name, "Pod", owners)
	m.Labels = lbls
	return &corev1.Pod{ObjectMeta: m}
}

func newResolver(t *testing.T, clk *clocktesting.FakeClock, objs ...client.Object) (*Resolver, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	scheme.AddKnownTypeWithName(seldonGVK, &unstructured.Unstructured{})
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	return New(c, clk, 15*time.Second), c
}

func seldonDeployment(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(seldonGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("SeldonDeployment-" + name))
	return u
}

func TestResolve(t *testing.T) {
	deployKey := target.Key{Namespace: ns, Group: "apps", Kind: "Deployment", Name: "llama"}
	seldonKey := target.Key{Namespace: ns, Group: workload.SeldonGroup, Kind: "SeldonDeployment", Name: "iris"}
	stsKey := target.Key{Namespace: ns, Group: "apps", Kind: "StatefulSet", Name: "web"}
	customKey := target.Key{Namespace: ns, Group: "example.com", Kind: "Model", Name: "m"}

	objs := []client.Object{
		policy("llama", "apps/v1", "Deployment", "llama"),
		policy("iris", "machinelearning.seldon.io/v1", "SeldonDeployment", "iris"),
		policy("web", "apps/v1", "StatefulSet", "web"),
		policy("custom", "example.com/v1", "Model", "m"),
		policy("sel", "example.com/v1", "Pool", "pool"),
		// Deployment llama: pod → ReplicaSet → Deployment.
		&appsv1.Deployment{ObjectMeta: objMeta("llama", "Deployment", nil)},
		&appsv1.ReplicaSet{ObjectMeta: objMeta("llama-7f9c", "ReplicaSet", owner("apps/v1", "Deployment", "llama"))},
		pod("llama-7f9c-a", owner("apps/v1", "ReplicaSet", "llama-7f9c"), nil),
		// SeldonDeployment iris: pod → ReplicaSet → Deployment → SeldonDeployment.
		seldonDeployment("iris"),
		&appsv1.Deployment{ObjectMeta: objMeta("iris-default-0-classifier", "Deployment", owner("machinelearning.seldon.io/v1", "SeldonDeployment", "iris"))},
		&appsv1.ReplicaSet{ObjectMeta: objMeta("iris-rs", "ReplicaSet", owner("apps/v1", "Deployment", "iris-default-0-classifier"))},
		pod("iris-rs-a", owner("apps/v1", "ReplicaSet", "iris-rs"), nil),
		// A pod with only Seldon's label.
		pod("iris-bare", nil, map[string]string{workload.SeldonDeploymentIDLabel: "iris", workload.ManagedByLabel: workload.SeldonManager}),
		// StatefulSet web.
		&appsv1.StatefulSet{ObjectMeta: objMeta("web", "StatefulSet", nil)},
		pod("web-0", owner("apps/v1", "StatefulSet", "web"), nil),
		// A custom kind owning its pods directly.
		pod("m-0", owner("example.com/v1", "Model", "m"), nil),
		// A pod only the selector of pool's /scale finds.
		pod("pool-x", nil, map[string]string{"pool": "p"}),
		// Pods no policy scales.
		&appsv1.Deployment{ObjectMeta: objMeta("other", "Deployment", nil)},
		&appsv1.ReplicaSet{ObjectMeta: objMeta("other-rs", "ReplicaSet", owner("apps/v1", "Deployment", "other"))},
		pod("other-rs-a", owner("apps/v1", "ReplicaSet", "other-rs"), nil),
		pod("bare", nil, nil),
		// An owner replaced by a namesake: the chain stops at the ReplicaSet.
		&appsv1.ReplicaSet{ObjectMeta: objMeta("stale-rs", "ReplicaSet", []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "old", Controller: ptr.To(true)}})},
		pod("stale-rs-a", owner("apps/v1", "ReplicaSet", "stale-rs"), nil),
	}
	r, _ := newResolver(t, clocktesting.NewFakeClock(time.Unix(0, 0)), objs...)
	r.SetSelector(target.Key{Namespace: ns, Group: "example.com", Kind: "Pool", Name: "pool"}, labels.SelectorFromSet(labels.Set{"pool": "p"}))

	for _, c := range []struct {
		pod, uid string
		want     target.Key
		err      error
	}{
		{pod: "llama-7f9c-a", want: deployKey},
		{pod: "iris-rs-a", want: seldonKey},
		{pod: "iris-bare", want: seldonKey},
		{pod: "web-0", want: stsKey},
		{pod: "m-0", want: customKey},
		{pod: "pool-x", want: target.Key{Namespace: ns, Group: "example.com", Kind: "Pool", Name: "pool"}},
		{pod: "other-rs-a", err: ErrNotScaled},
		{pod: "bare", err: ErrNotScaled},
		{pod: "stale-rs-a", err: ErrNotScaled},
		{pod: "missing", err: ErrPodNotFound},
		{pod: "llama-7f9c-a", uid: "someone-else", err: ErrPodNotFound},
	} {
		uid := c.uid
		if uid == "" {
			uid = "Pod-" + c.pod
		}
		got, err := r.Resolve(context.Background(), ns, c.pod, uid)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: got %v, %v; want error %v", c.pod, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.pod, got, err, c.want)
		}
	}
}

func TestNearestTargetedOwnerWins(t *testing.T) {
	objs := []client.Object{
		policy("outer", "machinelearning.seldon.io/v1", "SeldonDeployment", "iris"),
		policy("inner", "apps/v1", "Deployment", "iris-d"),
		seldonDeployment("iris"),
		&appsv1.Deployment{ObjectMeta: objMeta("iris-d", "Deployment", owner("machinelearning.seldon.io/v1", "SeldonDeployment", "iris"))},
		&appsv1.ReplicaSet{ObjectMeta: objMeta("iris-rs", "ReplicaSet", owner("apps/v1", "Deployment", "iris-d"))},
		pod("iris-rs-a", owner("apps/v1", "ReplicaSet", "iris-rs"), nil),
	}
	r, _ := newResolver(t, clocktesting.NewFakeClock(time.Unix(0, 0)), objs...)
	got, err := r.Resolve(context.Background(), ns, "iris-rs-a", "Pod-iris-rs-a")
	if want := (target.Key{Namespace: ns, Group: "apps", Kind: "Deployment", Name: "iris-d"}); err != nil || got != want {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

func TestResultCachedForTTL(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	p := policy("web", "apps/v1", "StatefulSet", "web")
	r, c := newResolver(t, clk, p, &appsv1.StatefulSet{ObjectMeta: objMeta("web", "StatefulSet", nil)},
		pod("web-0", owner("apps/v1", "StatefulSet", "web"), nil))
	if _, err := r.Resolve(context.Background(), ns, "web-0", "Pod-web-0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), ns, "web-0", "Pod-web-0"); err != nil {
		t.Errorf("within the TTL: %v", err)
	}
	clk.Step(15 * time.Second)
	if _, err := r.Resolve(context.Background(), ns, "web-0", "Pod-web-0"); !errors.Is(err, ErrNotScaled) {
		t.Errorf("after the TTL with the policy deleted: got %v, want ErrNotScaled", err)
	}
}

// A deleted pod's reports stop as soon as the API server's view drops it, not after the TTL:
// its bound token stays valid (and cached) until it expires.
func TestDeletedPodRefusedAtOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	p := pod("web-0", owner("apps/v1", "StatefulSet", "web"), nil)
	r, c := newResolver(t, clk, policy("web", "apps/v1", "StatefulSet", "web"),
		&appsv1.StatefulSet{ObjectMeta: objMeta("web", "StatefulSet", nil)}, p)
	if _, err := r.Resolve(context.Background(), ns, "web-0", "Pod-web-0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), ns, "web-0", "Pod-web-0"); !errors.Is(err, ErrPodNotFound) {
		t.Errorf("right after deletion, within the TTL: got %v, want ErrPodNotFound", err)
	}
}
