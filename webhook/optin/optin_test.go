package optin

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/workload"
)

// fakeLookup answers from maps keyed "Kind/name"; namespace "ai" only.
type fakeLookup struct {
	objects  map[string]*workload.Object
	read     int
	nsLabels map[string]string
	policies map[string]string // "Group/Kind/name" -> policy
	err      error
}

func (f *fakeLookup) NamespaceLabels(_ context.Context, name string) (map[string]string, error) {
	return f.nsLabels, f.err
}

func (f *fakeLookup) Get(_ context.Context, gvk schema.GroupVersionKind, _, name string) (*workload.Object, error) {
	f.read++
	if f.err != nil {
		return nil, f.err
	}
	return f.objects[gvk.Kind+"/"+name], nil
}

func (f *fakeLookup) PolicyTargeting(_ context.Context, _ string, gk schema.GroupKind, name string) (string, error) {
	return f.policies[gk.Group+"/"+gk.Kind+"/"+name], f.err
}

func ref(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: ptr.To(true)}
}

// podLabels are the labels of the pods of ReplicaSet llama-abc, which its selector names.
var podLabels = map[string]string{"app": "llama", workload.PodTemplateHashLabel: "abc"}

// obj is an owner that selects the pods of ReplicaSet llama-abc.
func obj(kind, name string, ann map[string]string, owner *metav1.OwnerReference) *workload.Object {
	o := &workload.Object{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(kind + "-" + name), Annotations: ann, Labels: podLabels},
		Selector: &metav1.LabelSelector{MatchLabels: podLabels}}
	if owner != nil {
		o.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return o
}

func on(v string) map[string]string { return map[string]string{AnnotationInject: v} }

// chain builds Pod → ReplicaSet llama-abc → Deployment llama (→ SeldonDeployment iris when seldon).
func chain(rsAnn, depAnn, sdepAnn map[string]string, seldon bool) map[string]*workload.Object {
	var depOwner *metav1.OwnerReference
	objs := map[string]*workload.Object{}
	if seldon {
		r := ref("machinelearning.seldon.io/v1", "SeldonDeployment", "iris")
		depOwner = &r
		objs["SeldonDeployment/iris"] = obj("SeldonDeployment", "iris", sdepAnn, nil)
	}
	depRef := ref("apps/v1", "Deployment", "llama")
	objs["ReplicaSet/llama-abc"] = obj("ReplicaSet", "llama-abc", rsAnn, &depRef)
	objs["Deployment/llama"] = obj("Deployment", "llama", depAnn, depOwner)
	return objs
}

func ownedPod(ann, labels map[string]string) *corev1.Pod {
	all := maps.Clone(podLabels)
	maps.Copy(all, labels)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "llama-abc-", Annotations: ann, Labels: all,
		OwnerReferences: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "llama-abc")},
	}}
}

func TestDecide(t *testing.T) {
	seldonLabels := map[string]string{workload.SeldonDeploymentIDLabel: "iris", workload.ManagedByLabel: workload.SeldonManager}
	bareSeldonPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "iris", Labels: seldonLabels}}
	forged := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "forged", Labels: podLabels, OwnerReferences: []metav1.OwnerReference{ref("apps/v1", "Deployment", "llama")}}}
	hostNet := ownedPod(on("true"), nil)
	hostNet.Spec.HostNetwork = true
	tests := []struct {
		name       string
		namespace  string
		pod        *corev1.Pod
		lookup     *fakeLookup
		want       bool
		wantReason string
		wantSeldon bool
		wantWarn   string
	}{
		{name: "no annotation anywhere", pod: ownedPod(nil, nil), lookup: &fakeLookup{objects: chain(nil, nil, nil, false)},
			want: false, wantReason: "not opted in"},
		{name: "pod annotation", pod: ownedPod(on("true"), nil), lookup: &fakeLookup{objects: chain(nil, nil, nil, false)},
			want: true, wantReason: "on the pod"},
		{name: "deployment annotation", pod: ownedPod(nil, nil), lookup: &fakeLookup{objects: chain(nil, on("true"), nil, false)},
			want: true, wantReason: "on Deployment/llama"},
		{name: "pod opt-out beats deployment opt-in", pod: ownedPod(on("false"), nil), lookup: &fakeLookup{objects: chain(nil, on("true"), nil, false)},
			want: false, wantReason: `"false" on the pod`},
		{name: "replicaset nearer than deployment", pod: ownedPod(nil, nil), lookup: &fakeLookup{objects: chain(on("false"), on("true"), nil, false)},
			want: false, wantReason: "on ReplicaSet/llama-abc"},
		{name: "opt-out wins over namespace label", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, on("false"), nil, false), nsLabels: map[string]string{NamespaceLabel: NamespaceEnabled}},
			want:   false, wantReason: "on Deployment/llama"},
		{name: "opt-out wins over policy target", pod: ownedPod(on("false"), nil),
			lookup: &fakeLookup{objects: chain(nil, nil, nil, false), policies: map[string]string{"apps/Deployment/llama": "p"}},
			want:   false},
		{name: "namespace label", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, nil, nil, false), nsLabels: map[string]string{NamespaceLabel: NamespaceEnabled}},
			want:   true, wantReason: "namespace ai has label"},
		{name: "namespace label with another value", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, nil, nil, false), nsLabels: map[string]string{NamespaceLabel: "disabled"}},
			want:   false},
		{name: "policy targets the deployment", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, nil, nil, false), policies: map[string]string{"apps/Deployment/llama": "llama-policy"}},
			want:   true, wantReason: "AutoscalingPolicy llama-policy targets Deployment/llama"},
		{name: "seldon annotation through the owner chain", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, nil, on("true"), true)},
			want:   true, wantReason: "on SeldonDeployment/iris", wantSeldon: true},
		{name: "policy targets the seldon deployment", pod: ownedPod(nil, nil),
			lookup: &fakeLookup{objects: chain(nil, nil, nil, true), policies: map[string]string{"machinelearning.seldon.io/SeldonDeployment/iris": "iris"}},
			want:   true, wantReason: "targets SeldonDeployment/iris", wantSeldon: true},
		// Seldon's labels name no workload; only the owner chain does.
		{name: "seldon labels without the owner chain opt nothing in", pod: bareSeldonPod,
			lookup: &fakeLookup{objects: map[string]*workload.Object{"SeldonDeployment/iris": obj("SeldonDeployment", "iris", on("true"), nil)},
				policies: map[string]string{"machinelearning.seldon.io/SeldonDeployment/iris": "iris"}},
			want: false, wantReason: "not opted in"},
		{name: "forged controller reference to a targeted deployment", pod: forged,
			lookup: &fakeLookup{objects: chain(nil, on("true"), nil, false), policies: map[string]string{"apps/Deployment/llama": "llama-policy"}},
			want:   false, wantReason: "not opted in", wantWarn: "names Deployment llama as its controller, but a Deployment does not control Pods; the pod is not that workload's"},
		{name: "kube-system is excluded", namespace: "kube-system", pod: ownedPod(on("true"), nil), lookup: &fakeLookup{},
			want: false, wantReason: "excluded"},
		{name: "inferscale-system is excluded", namespace: "inferscale-system", pod: ownedPod(on("true"), nil), lookup: &fakeLookup{},
			want: false, wantReason: "excluded"},
		{name: "host network", pod: hostNet, lookup: &fakeLookup{}, want: false, wantReason: "host network"},
		{name: "bare pod", pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: on("True")}}, lookup: &fakeLookup{},
			want: true, wantReason: "on the pod"},
		{name: "unparsable annotation is ignored with a warning", pod: ownedPod(on("yes"), nil),
			lookup: &fakeLookup{objects: chain(nil, on("true"), nil, false)},
			want:   true, wantReason: "on Deployment/llama", wantWarn: `"yes", neither true nor false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tt.namespace
			if ns == "" {
				ns = "ai"
			}
			d, err := Decide(context.Background(), tt.pod, ns, tt.lookup, DefaultOptions())
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Inject != tt.want || !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("inject %v (%s), want %v (%s)", d.Inject, d.Reason, tt.want, tt.wantReason)
			}
			if seldon := slices.ContainsFunc(d.Owners, func(o workload.Owner) bool { return o.GroupKind == workload.SeldonDeployment }); seldon != tt.wantSeldon {
				t.Errorf("seldon %v, want %v", seldon, tt.wantSeldon)
			}
			if got := strings.Join(d.Warnings, "\n"); (tt.wantWarn == "") != (got == "") || !strings.Contains(got, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", got, tt.wantWarn)
			}
		})
	}
}

func TestDecideTopOwner(t *testing.T) {
	d, err := Decide(context.Background(), ownedPod(nil, nil), "ai", &fakeLookup{objects: chain(nil, nil, nil, true)}, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if top := d.Top(); top == nil || top.String() != "SeldonDeployment/iris" || len(d.Owners) != 3 {
		t.Errorf("owners %v, want ReplicaSet, Deployment, SeldonDeployment", d.Owners)
	}
}

func TestDecideStopsOnOwnerCycles(t *testing.T) {
	self := ref("apps/v1", "ReplicaSet", "llama-abc")
	l := &fakeLookup{objects: map[string]*workload.Object{"ReplicaSet/llama-abc": obj("ReplicaSet", "llama-abc", on("true"), &self)}}
	d, err := Decide(context.Background(), ownedPod(nil, nil), "ai", l, DefaultOptions())
	if err != nil || !d.Inject || len(d.Owners) != 1 || l.read != 2 || !strings.Contains(strings.Join(d.Warnings, " "), "a ReplicaSet does not control ReplicaSets") {
		t.Errorf("decision %+v, %v, %d reads: want the walk stopped at the ReplicaSet that names itself", d, err, l.read)
	}
}

func TestDecideReportsLookupErrors(t *testing.T) {
	boom := errors.New("cache not synced")
	_, err := Decide(context.Background(), ownedPod(nil, nil), "ai", &fakeLookup{err: boom}, DefaultOptions())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "llama-abc") {
		t.Errorf("error %v, want the lookup error naming the owner", err)
	}
}

// TestDecidePodAnnotationBeforeAnyOwner: the pod's own choice needs no owner read, and an
// owner that cannot be read does not undo it.
func TestDecidePodAnnotationBeforeAnyOwner(t *testing.T) {
	boom := errors.New("cache not synced")
	l := &fakeLookup{err: boom}
	d, err := Decide(context.Background(), ownedPod(on("false"), nil), "ai", l, DefaultOptions())
	if err != nil || d.Inject || l.read != 0 {
		t.Errorf("opt-out: %+v, %v, %d reads; want no injection and no read", d, err, l.read)
	}
	d, err = Decide(context.Background(), ownedPod(on("true"), nil), "ai", l, DefaultOptions())
	if err != nil || !d.Inject || !strings.Contains(strings.Join(d.Warnings, " "), "could not be read") {
		t.Errorf("opt-in with unreadable owners: %+v, %v; want injection with a warning", d, err)
	}
}

// TestDecideNeverReadsKindsItIsNotAllowedTo: a pod of a kind the webhook cannot read
// (a Job, a LeaderWorkerSet, any custom kind) is decided without reading it. A policy
// targeting that owner does not opt it in, as nothing verifies the pod's own reference (the
// scaler would not count its reports); the pod's annotation still does.
func TestDecideNeverReadsKindsItIsNotAllowedTo(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "lws-0-", OwnerReferences: []metav1.OwnerReference{ref("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "lws")}}}
	l := &fakeLookup{policies: map[string]string{"leaderworkerset.x-k8s.io/LeaderWorkerSet/lws": "p"}}
	d, err := Decide(context.Background(), pod, "ai", l, DefaultOptions())
	if err != nil || d.Inject || l.read != 0 || len(d.Owners) != 1 || d.Owners[0].Source != workload.Claimed {
		t.Errorf("%+v, %v, %d reads; want no injection by the policy, no read of the owner", d, err, l.read)
	}
	pod.Annotations = on("true")
	if d, err := Decide(context.Background(), pod, "ai", l, DefaultOptions()); err != nil || !d.Inject || l.read != 0 {
		t.Errorf("%+v, %v, %d reads; want injection by the pod's annotation without reading the owner", d, err, l.read)
	}
}

func BenchmarkDecide(b *testing.B) {
	l := &fakeLookup{objects: chain(nil, nil, nil, true), policies: map[string]string{"machinelearning.seldon.io/SeldonDeployment/iris": "iris"}}
	pod := ownedPod(nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(ctx, pod, "ai", l, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
