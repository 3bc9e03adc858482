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
	m     map[string]*metav1.PartialObjectMetadata
	asked []string
	err   error
}

func (o *objects) Get(_ context.Context, gvk schema.GroupVersionKind, _, name string) (*metav1.PartialObjectMetadata, error) {
	o.asked = append(o.asked, gvk.Kind+"/"+name)
	return o.m[gvk.Kind+"/"+name], o.err
}

func ref(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: ptr.To(true)}
}

func object(kind, name string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(kind + "-" + name), OwnerReferences: owners}}
}

func names(owners []Owner) string {
	var s []string
	for _, o := range owners {
		s = append(s, o.String())
	}
	return strings.Join(s, " ")
}

var seldonLabels = map[string]string{SeldonDeploymentIDLabel: "iris", ManagedByLabel: SeldonManager}

func TestChain(t *testing.T) {
	deployment := object("Deployment", "llama")
	seldonChild := object("Deployment", "iris-default-0-model", ref("machinelearning.seldon.io/v1", "SeldonDeployment", "iris"))
	all := map[string]*metav1.PartialObjectMetadata{
		"ReplicaSet/llama-abc":            object("ReplicaSet", "llama-abc", ref("apps/v1", "Deployment", "llama")),
		"Deployment/llama":                deployment,
		"ReplicaSet/iris-abc":             object("ReplicaSet", "iris-abc", ref("apps/v1", "Deployment", "iris-default-0-model")),
		"Deployment/iris-default-0-model": seldonChild,
		"SeldonDeployment/iris":           object("SeldonDeployment", "iris"),
		"StatefulSet/web":                 object("StatefulSet", "web"),
		"ReplicaSet/stale":                object("ReplicaSet", "stale", ref("apps/v1", "Deployment", "llama")),
		"ReplicaSet/orphan":               object("ReplicaSet", "orphan", ref("apps/v1", "Deployment", "gone")),
		"ReplicaSet/under-custom":         object("ReplicaSet", "under-custom", ref("example.com/v1", "Widget", "w")),
	}
	all["ReplicaSet/stale"].OwnerReferences[0].UID = "an-older-llama"
	for _, tc := range []struct {
		name   string
		pod    Pod
		want   string
		asked  []string
		source []Source
	}{
		{"deployment", Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "llama-abc")}}, "ReplicaSet/llama-abc Deployment/llama",
			[]string{"ReplicaSet/llama-abc", "Deployment/llama"}, []Source{Read, Read}},
		{"seldon by owners", Pod{Labels: seldonLabels, Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "iris-abc")}},
			"ReplicaSet/iris-abc Deployment/iris-default-0-model SeldonDeployment/iris", nil, []Source{Read, Read, Read}},
		{"seldon by labels only", Pod{Labels: seldonLabels}, "SeldonDeployment/iris", []string{"SeldonDeployment/iris"}, []Source{Labelled}},
		{"seldon id without the manager label", Pod{Labels: map[string]string{SeldonDeploymentIDLabel: "iris"}}, "", []string{}, nil},
		{"statefulset", Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "StatefulSet", "web")}}, "StatefulSet/web", nil, []Source{Read}},
		// A kind not walked is never read: no RBAC, no informer, no wait.
		{"job", Pod{Owners: []metav1.OwnerReference{ref("batch/v1", "Job", "train")}}, "Job/train", []string{}, []Source{Referenced}},
		{"custom kind above a replicaset", Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "under-custom")}}, "ReplicaSet/under-custom Widget/w",
			[]string{"ReplicaSet/under-custom"}, []Source{Read, Referenced}},
		{"replaced owner", Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "stale")}}, "ReplicaSet/stale", nil, nil},
		{"owner gone", Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "orphan")}}, "ReplicaSet/orphan", nil, nil},
		{"bad apiVersion", Pod{Owners: []metav1.OwnerReference{ref("a/b/c", "ReplicaSet", "x")}}, "", []string{}, nil},
		{"two owners, none the controller", Pod{Owners: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "llama-abc"}, {APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x"}}}, "", []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &objects{m: all}
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
	if _, err := Chain(context.Background(), Pod{Owners: []metav1.OwnerReference{ref("apps/v1", "ReplicaSet", "llama-abc")}}, &objects{err: errors.New("boom")}); err == nil || !strings.Contains(err.Error(), "llama-abc") {
		t.Errorf("read error: %v, want it naming the owner", err)
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
		for _, gvk := range Walked {
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
