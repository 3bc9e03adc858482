package workload

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// objects answers Get from a map keyed "Kind/name" and records what was asked.
type objects struct {
	m     map[string]*Object
	asked []string
	err   error
}

func (o *objects) Get(_ context.Context, gvk schema.GroupVersionKind, _, name string) (*Object, error) {
	o.asked = append(o.asked, gvk.Kind+"/"+name)
	return o.m[gvk.Kind+"/"+name], o.err
}

func ref(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: ptr.To(true)}
}

func object(kind, name string, owners ...metav1.OwnerReference) *Object {
	return &Object{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(kind + "-" + name), OwnerReferences: owners}}
}

// selecting is object with labels and a selector of the same labels (the given keys only, or all).
func selecting(o *Object, lbls map[string]string, keys ...string) *Object {
	o.Labels = lbls
	sel := map[string]string{}
	for k, v := range lbls {
		if len(keys) == 0 || slices.Contains(keys, k) {
			sel[k] = v
		}
	}
	o.Selector = &metav1.LabelSelector{MatchLabels: sel}
	return o
}

func names(owners []Owner) string {
	var s []string
	for _, o := range owners {
		s = append(s, o.String())
	}
	return strings.Join(s, " ")
}

var (
	llamaLabels  = map[string]string{"app": "llama", PodTemplateHashLabel: "abc"}
	seldonLabels = map[string]string{"app": "iris", SeldonDeploymentIDLabel: "iris", ManagedByLabel: SeldonManager, PodTemplateHashLabel: "s1"}
	webLabels    = map[string]string{"app": "web", ControllerRevisionHashLabel: "web-2"}
)

// cluster is what the Deployment, StatefulSet and Seldon controllers would have made: every
// link holds.
func cluster() map[string]*Object {
	web := selecting(object("StatefulSet", "web"), map[string]string{"app": "web"})
	web.CurrentRevision, web.UpdateRevision = "web-1", "web-2"
	return map[string]*Object{
		"Deployment/llama":                selecting(object("Deployment", "llama"), map[string]string{"app": "llama"}),
		"ReplicaSet/llama-abc":            selecting(object("ReplicaSet", "llama-abc", ref("apps/v1", "Deployment", "llama")), llamaLabels),
		"SeldonDeployment/iris":           object("SeldonDeployment", "iris"),
		"Deployment/iris-default-0-model": selecting(object("Deployment", "iris-default-0-model", ref("machinelearning.seldon.io/v1", "SeldonDeployment", "iris")), seldonLabels, "app", SeldonDeploymentIDLabel),
		"ReplicaSet/iris-s1":              selecting(object("ReplicaSet", "iris-s1", ref("apps/v1", "Deployment", "iris-default-0-model")), seldonLabels),
		"StatefulSet/web":                 web,
		"ControllerRevision/web-0":        object("ControllerRevision", "web-0", ref("apps/v1", "StatefulSet", "web")),
		"ReplicaSet/under-custom":         selecting(object("ReplicaSet", "under-custom", ref("example.com/v1", "Widget", "w")), map[string]string{"app": "w"}),
		"ReplicaSet/standalone":           selecting(object("ReplicaSet", "standalone"), map[string]string{"app": "s"}),
	}
}

func podOf(kind, owner string, lbls map[string]string) Pod {
	return Pod{Name: owner + "-0", Labels: lbls, Owners: []metav1.OwnerReference{ref("apps/v1", kind, owner)}}
}

func TestChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pod    Pod
		want   string
		asked  []string
		source []Source
	}{
		{"deployment", podOf("ReplicaSet", "llama-abc", llamaLabels), "ReplicaSet/llama-abc Deployment/llama",
			[]string{"ReplicaSet/llama-abc", "Deployment/llama"}, []Source{Read, Read}},
		{"seldon by owners", podOf("ReplicaSet", "iris-s1", seldonLabels),
			"ReplicaSet/iris-s1 Deployment/iris-default-0-model SeldonDeployment/iris", nil, []Source{Read, Read, Read}},
		// Seldon's labels name no workload: only the owner chain does.
		{"seldon labels only", Pod{Labels: seldonLabels}, "", []string{}, nil},
		{"statefulset, update revision", podOf("StatefulSet", "web", webLabels), "StatefulSet/web", []string{"StatefulSet/web"}, []Source{Read}},
		{"statefulset, an older revision the set controls", podOf("StatefulSet", "web", map[string]string{"app": "web", ControllerRevisionHashLabel: "web-0"}),
			"StatefulSet/web", []string{"StatefulSet/web", "ControllerRevision/web-0"}, []Source{Read}},
		{"replicaset of no deployment", podOf("ReplicaSet", "standalone", map[string]string{"app": "s"}), "ReplicaSet/standalone", nil, []Source{Read}},
		// A kind not walked is never read: no RBAC, no informer, no wait.
		{"job", Pod{Owners: []metav1.OwnerReference{ref("batch/v1", "Job", "train")}}, "Job/train", []string{}, []Source{Claimed}},
		{"custom kind above a replicaset", podOf("ReplicaSet", "under-custom", map[string]string{"app": "w"}), "ReplicaSet/under-custom Widget/w",
			[]string{"ReplicaSet/under-custom"}, []Source{Read, Referenced}},
		{"bad apiVersion", Pod{Owners: []metav1.OwnerReference{ref("a/b/c", "ReplicaSet", "x")}}, "", []string{}, nil},
		{"an owner that is not the controller", Pod{Labels: llamaLabels, Owners: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc", UID: "ReplicaSet-llama-abc"}}}, "", []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &objects{m: cluster()}
			got, err := Chain(context.Background(), tc.pod, g)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tc.want {
				t.Errorf("chain %q, want %q", names(got), tc.want)
			}
			if tc.asked != nil && !slices.Equal(g.asked, tc.asked) && !(len(g.asked) == 0 && len(tc.asked) == 0) {
				t.Errorf("read %v, want %v", g.asked, tc.asked)
			}
			for i, s := range tc.source {
				if i < len(got) && got[i].Source != s {
					t.Errorf("owner %d %s: source %d, want %d", i, got[i], got[i].Source, s)
				}
			}
		})
	}
	if _, err := Chain(context.Background(), podOf("ReplicaSet", "llama-abc", llamaLabels), &objects{err: errors.New("boom")}); err == nil || errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "llama-abc") {
		t.Errorf("read error: %v, want it naming the owner, not a verification failure", err)
	}
}

func TestTargets(t *testing.T) {
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
		if got := Targets(tt.ref, Deployment, "a"); got != tt.want {
			t.Errorf("Targets(%+v) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

// TestRBACCoversEveryWalkedKind: the webhook and the scaler may read every kind the walk reads.
func TestRBACCoversEveryWalkedKind(t *testing.T) {
	for _, path := range []string{"../manifests/webhook/rbac.yaml", "../manifests/scaler/rbac.yaml"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rules []rbacv1.PolicyRule
		for _, doc := range strings.Split(string(raw), "\n---\n") {
			var r rbacv1.ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			if r.Kind == "ClusterRole" {
				rules = append(rules, r.Rules...)
			}
		}
		for _, gvk := range ReadKinds {
			resource := strings.ToLower(gvk.Kind) + "s"
			for _, verb := range []string{"get", "list", "watch"} {
				if !slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
					return slices.Contains(r.APIGroups, gvk.Group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
				}) {
					t.Errorf("%s: the ClusterRole does not grant %s on %s.%s", path, verb, resource, gvk.Group)
				}
			}
		}
	}
}

func TestSeldonDeploymentID(t *testing.T) {
	if got := SeldonDeploymentID("iris"); got != "iris" {
		t.Errorf("short name: %q", got)
	}
	long := strings.Repeat("a", 64)
	sum := md5.Sum([]byte(long))
	if got, want := SeldonDeploymentID(long), "seldon-"+hex.EncodeToString(sum[:]); got != want || len(got) > 63 {
		t.Errorf("64-character name: %q, want %q within a label value's 63 characters", got, want)
	}
	if got := SeldonDeploymentID(long[:63]); got != long[:63] {
		t.Errorf("63-character name: %q, want it unchanged", got)
	}
}
