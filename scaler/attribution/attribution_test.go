package attribution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// The objects the controllers would make: Deployment name → ReplicaSet name-hash → pods
// name-hash-x, each selecting the next with the pod-template-hash; a StatefulSet's pods
// name-<ordinal> at its current revision.
func deployment(name string, owners []metav1.OwnerReference) *appsv1.Deployment {
	m := objMeta(name, "Deployment", owners)
	m.Labels = map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: m, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: m.Labels}}}
}

func podLabels(app, hash string) map[string]string {
	return map[string]string{"app": app, workload.PodTemplateHashLabel: hash}
}

func replicaSet(d, hash string) *appsv1.ReplicaSet {
	m := objMeta(d+"-"+hash, "ReplicaSet", owner("apps/v1", "Deployment", d))
	m.Labels = podLabels(d, hash)
	return &appsv1.ReplicaSet{ObjectMeta: m, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: m.Labels}}}
}

func rsPod(d, hash, x string) *corev1.Pod {
	return pod(d+"-"+hash+"-"+x, owner("apps/v1", "ReplicaSet", d+"-"+hash), podLabels(d, hash))
}

func statefulSet(name string) *appsv1.StatefulSet {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	return &appsv1.StatefulSet{ObjectMeta: objMeta(name, "StatefulSet", nil), Spec: appsv1.StatefulSetSpec{Selector: sel},
		Status: appsv1.StatefulSetStatus{CurrentRevision: name + "-1", UpdateRevision: name + "-1"}}
}

func stsPod(set string, ordinal int) *corev1.Pod {
	return pod(fmt.Sprintf("%s-%d", set, ordinal), owner("apps/v1", "StatefulSet", set), map[string]string{"app": set, workload.ControllerRevisionHashLabel: set + "-1"})
}

var (
	deployKey = target.Key{Namespace: ns, Group: "apps", Kind: "Deployment", Name: "llama"}
	seldonKey = target.Key{Namespace: ns, Group: workload.SeldonGroup, Kind: "SeldonDeployment", Name: "iris"}
	stsKey    = target.Key{Namespace: ns, Group: "apps", Kind: "StatefulSet", Name: "web"}
)

func fixture() []client.Object {
	seldonChild := deployment("iris-default-0-classifier", owner("machinelearning.seldon.io/v1", "SeldonDeployment", "iris"))
	widgetRS := replicaSet("w", "h1")
	widgetRS.OwnerReferences = owner("example.com/v1", "Widget", "w")
	staleRS := replicaSet("llama", "old")
	staleRS.OwnerReferences[0].UID = "an-older-llama"
	forged := pod("forged", owner("apps/v1", "Deployment", "llama"), podLabels("llama", "7f9c"))
	return []client.Object{
		policy("llama", "apps/v1", "Deployment", "llama"),
		policy("iris", "machinelearning.seldon.io/v1", "SeldonDeployment", "iris"),
		policy("web", "apps/v1", "StatefulSet", "web"),
		policy("custom", "example.com/v1", "Model", "m"),
		policy("widget", "example.com/v1", "Widget", "w"),
		// Deployment llama: pod → ReplicaSet → Deployment.
		deployment("llama", nil), replicaSet("llama", "7f9c"), rsPod("llama", "7f9c", "a"),
		// SeldonDeployment iris: pod → ReplicaSet → Deployment → SeldonDeployment.
		seldonDeployment("iris"), seldonChild, replicaSet("iris-default-0-classifier", "5d"), rsPod("iris-default-0-classifier", "5d", "a"),
		// A pod with only Seldon's labels.
		pod("iris-bare", nil, map[string]string{workload.SeldonDeploymentIDLabel: "iris", workload.ManagedByLabel: workload.SeldonManager}),
		statefulSet("web"), stsPod("web", 0),
		// A custom kind owning its pods directly: nothing verifies the pod's reference.
		pod("m-0", owner("example.com/v1", "Model", "m"), nil),
		// A custom kind above a ReplicaSet that verifies.
		widgetRS, rsPod("w", "h1", "a"),
		// Pods no policy scales.
		deployment("other", nil), replicaSet("other", "1"), rsPod("other", "1", "a"),
		pod("bare", nil, nil),
		// The Deployment's pod labels only.
		pod("labelled", nil, podLabels("llama", "7f9c")),
		// A ReplicaSet claiming llama with the UID of an older namesake.
		staleRS, rsPod("llama", "old", "a"),
		// A bare pod naming the Deployment as its controller, with its pods' labels.
		forged,
		// A pod naming the real ReplicaSet, with another pod-template-hash.
		pod("wrong-hash", owner("apps/v1", "ReplicaSet", "llama-7f9c"), podLabels("llama", "0000")),
	}
}

func TestResolve(t *testing.T) {
	r, _ := newResolver(t, clocktesting.NewFakeClock(time.Unix(0, 0)), fixture()...)
	for _, c := range []struct {
		pod, uid string
		want     target.Key
		err      error
		says     string
	}{
		{pod: "llama-7f9c-a", want: deployKey},
		{pod: "iris-default-0-classifier-5d-a", want: seldonKey},
		{pod: "web-0", want: stsKey},
		{pod: "w-h1-a", want: target.Key{Namespace: ns, Group: "example.com", Kind: "Widget", Name: "w"}},
		{pod: "iris-bare", err: ErrNotScaled},
		{pod: "labelled", err: ErrNotScaled},
		{pod: "m-0", err: ErrUnverified, says: "names Model/m as its controller, but a Model's pods cannot be verified"},
		{pod: "other-1-a", err: ErrNotScaled},
		{pod: "bare", err: ErrNotScaled},
		{pod: "llama-old-a", err: ErrUnverified, says: `replicaset llama-old names Deployment llama as its controller, but the reference's uid "an-older-llama"`},
		{pod: "forged", err: ErrUnverified, says: "pod forged names Deployment llama as its controller, but a Deployment does not control Pods"},
		{pod: "wrong-hash", err: ErrUnverified, says: `the ReplicaSet's selector "app=llama,pod-template-hash=7f9c" does not match the pod's labels`},
		{pod: "missing", err: ErrPodNotFound},
		{pod: "llama-7f9c-a", uid: "someone-else", err: ErrPodNotFound},
	} {
		uid := c.uid
		if uid == "" {
			uid = "Pod-" + c.pod
		}
		got, err := r.Resolve(context.Background(), ns, c.pod, uid)
		if c.err != nil {
			if !errors.Is(err, c.err) || !strings.Contains(fmt.Sprint(err), c.says) {
				t.Errorf("%s: got %v, %v; want error %v saying %q", c.pod, got, err, c.err, c.says)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.pod, got, err, c.want)
		}
	}
}

// TestOwns: the controller counts as a target's pods those its verified chain reaches, not
// those that carry its labels or name it.
func TestOwns(t *testing.T) {
	r, c := newResolver(t, clocktesting.NewFakeClock(time.Unix(0, 0)), fixture()...)
	for _, tc := range []struct {
		pod  string
		k    target.Key
		want bool
	}{
		{"llama-7f9c-a", deployKey, true},
		{"iris-default-0-classifier-5d-a", seldonKey, true},
		{"web-0", stsKey, true},
		{"forged", deployKey, false},
		{"wrong-hash", deployKey, false},
		{"llama-old-a", deployKey, false},
		{"labelled", deployKey, false},
		{"iris-bare", seldonKey, false},
		{"m-0", target.Key{Namespace: ns, Group: "example.com", Kind: "Model", Name: "m"}, false},
		{"llama-7f9c-a", stsKey, false},
	} {
		var p corev1.Pod
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tc.pod}, &p); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Owns(context.Background(), &p, tc.k); err != nil || got != tc.want {
			t.Errorf("%s owned by %s: %v, %v; want %v", tc.pod, tc.k, got, err, tc.want)
		}
	}
}

func TestNearestTargetedOwnerWins(t *testing.T) {
	objs := []client.Object{
		policy("outer", "machinelearning.seldon.io/v1", "SeldonDeployment", "iris"),
		policy("inner", "apps/v1", "Deployment", "iris-d"),
		seldonDeployment("iris"),
		deployment("iris-d", owner("machinelearning.seldon.io/v1", "SeldonDeployment", "iris")),
		replicaSet("iris-d", "rs"),
		rsPod("iris-d", "rs", "a"),
	}
	r, _ := newResolver(t, clocktesting.NewFakeClock(time.Unix(0, 0)), objs...)
	got, err := r.Resolve(context.Background(), ns, "iris-d-rs-a", "Pod-iris-d-rs-a")
	if want := (target.Key{Namespace: ns, Group: "apps", Kind: "Deployment", Name: "iris-d"}); err != nil || got != want {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

func TestResultCachedForTTL(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	p := policy("web", "apps/v1", "StatefulSet", "web")
	r, c := newResolver(t, clk, p, statefulSet("web"), stsPod("web", 0))
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
	p := stsPod("web", 0)
	r, c := newResolver(t, clk, policy("web", "apps/v1", "StatefulSet", "web"), statefulSet("web"), p)
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
