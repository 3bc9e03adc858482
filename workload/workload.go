// Package workload says which workload a pod belongs to: the controller owner chain as the API
// server stores it, the owner kinds that are looked up on the way, Seldon Core's identity of a
// pod, and whether a policy's target is one of those workloads. The webhook's opt-in decision
// and the scaler's attribution of reports both use it, so they always agree on a pod's
// workload.
//
// The walk reads owners only through a Getter, as the objects the API server returned, and
// only for the kinds in Walked: reading any other kind would need RBAC the components do not
// have (and, through an informer cache, wait for a sync that never comes). An owner of another
// kind still counts, from its reference, as the last link of the chain.
package workload

import (
	"context"
	"crypto/md5" //nolint:gosec // the operator's naming, not security
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// Seldon Core v1's kind and the labels its operator puts on every pod of a SeldonDeployment.
const (
	SeldonGroup = "machinelearning.seldon.io"
	// SeldonDeploymentIDLabel names the SeldonDeployment (its name, or "seldon-" + an MD5 of a
	// name longer than 63 characters).
	SeldonDeploymentIDLabel = "seldon-deployment-id"
	ManagedByLabel          = "app.kubernetes.io/managed-by"
	SeldonManager           = "seldon-core"
)

// Kinds the walk reads. Both the webhook's and the scaler's RBAC grant get, list and watch on
// each (manifests/webhook/rbac.yaml, manifests/scaler/rbac.yaml).
var (
	ReplicaSet       = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	Deployment       = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	StatefulSet      = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	SeldonDeployment = schema.GroupKind{Group: SeldonGroup, Kind: "SeldonDeployment"}

	SeldonDeploymentGVK = SeldonDeployment.WithVersion("v1")
)

// Walked are the owner kinds that are read to find their own owners and annotations.
var Walked = []schema.GroupVersionKind{
	ReplicaSet.WithVersion("v1"), Deployment.WithVersion("v1"), StatefulSet.WithVersion("v1"), SeldonDeploymentGVK,
}

// IsWalked reports whether owners of kind gk are read.
func IsWalked(gk schema.GroupKind) bool {
	for _, w := range Walked {
		if w.GroupKind() == gk {
			return true
		}
	}
	return false
}

// MaxDepth bounds the walk: Pod → ReplicaSet → Deployment → SeldonDeployment is three hops; a
// cycle or an odd operator stops here.
const MaxDepth = 5

// How an owner is known.
type Source int

const (
	// Read: the object was read and its UID matches the reference.
	Read Source = iota
	// Referenced: known from an owner reference only, as its kind is not walked.
	Referenced
	// Labelled: named by the pod's Seldon labels, which a pod's creator sets; not verified.
	Labelled
)

// Owner is one workload the pod belongs to.
type Owner struct {
	GroupKind  schema.GroupKind
	APIVersion string
	Name       string
	// UID is empty for an owner known from labels only.
	UID types.UID
	// Annotations and Owners are those of the object read; nil unless Source is Read.
	Annotations map[string]string
	Owners      []metav1.OwnerReference
	Source      Source
}

// String is "Kind/name" for messages.
func (o Owner) String() string { return o.GroupKind.Kind + "/" + o.Name }

// Getter returns the metadata of an object as the API server stores it, or nil when it does
// not exist, its kind is not served, or it cannot be read without waiting (no informer).
type Getter interface {
	Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*metav1.PartialObjectMetadata, error)
}

// ControllerOf returns the managing owner reference: the one marked controller, else the only one.
func ControllerOf(refs []metav1.OwnerReference) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	if len(refs) == 1 {
		return refs[0], true
	}
	return metav1.OwnerReference{}, false
}

// Pod is what the walk needs of a pod: a pod under creation has no namespace of its own yet.
type Pod struct {
	Namespace string
	Labels    map[string]string
	Owners    []metav1.OwnerReference
}

// Chain returns the pod's owners, nearest first: the controller owners up from the pod, and,
// when that chain does not reach a SeldonDeployment but the pod carries Seldon's labels, the
// SeldonDeployment they name (read when it exists). An error means an owner could not be read.
func Chain(ctx context.Context, pod Pod, g Getter) ([]Owner, error) {
	var owners []Owner
	refs := pod.Owners
	for depth := 0; depth < MaxDepth; depth++ {
		ref, ok := ControllerOf(refs)
		if !ok {
			break
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			break // the API server would not have stored it; nothing to follow
		}
		gvk := gv.WithKind(ref.Kind)
		if !IsWalked(gvk.GroupKind()) {
			owners = append(owners, Owner{GroupKind: gvk.GroupKind(), APIVersion: ref.APIVersion, Name: ref.Name, UID: ref.UID, Source: Referenced})
			break
		}
		obj, err := g.Get(ctx, gvk, pod.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("reading owner %s %s/%s: %w", gvk.GroupKind(), pod.Namespace, ref.Name, err)
		}
		// Gone (an orphan awaiting garbage collection), or replaced by a namesake: the chain ends.
		if obj == nil || (ref.UID != "" && obj.UID != ref.UID) {
			break
		}
		owners = append(owners, ownerOf(gvk, obj))
		refs = obj.OwnerReferences
	}

	name, ok := SeldonDeploymentOf(pod.Labels)
	if !ok || hasKind(owners, SeldonDeployment) {
		return owners, nil
	}
	obj, err := g.Get(ctx, SeldonDeploymentGVK, pod.Namespace, name)
	if err != nil {
		return nil, fmt.Errorf("reading SeldonDeployment %s/%s named by the pod's %s label: %w", pod.Namespace, name, SeldonDeploymentIDLabel, err)
	}
	o := Owner{GroupKind: SeldonDeployment, APIVersion: SeldonDeploymentGVK.GroupVersion().String(), Name: name, Source: Labelled}
	if obj != nil {
		o.UID, o.Annotations, o.Owners = obj.UID, obj.Annotations, obj.OwnerReferences
	}
	return append(owners, o), nil
}

func ownerOf(gvk schema.GroupVersionKind, obj *metav1.PartialObjectMetadata) Owner {
	return Owner{
		GroupKind: gvk.GroupKind(), APIVersion: gvk.GroupVersion().String(), Name: obj.Name, UID: obj.UID,
		Annotations: obj.Annotations, Owners: obj.OwnerReferences, Source: Read,
	}
}

func hasKind(owners []Owner, gk schema.GroupKind) bool {
	for _, o := range owners {
		if o.GroupKind == gk {
			return true
		}
	}
	return false
}

// SeldonDeploymentID is the value of the seldon-deployment-id label Seldon Core's operator
// puts on the pods, Deployments and HPAs of the SeldonDeployment named name: the name, or for
// a name longer than 63 characters (a label value's limit) "seldon-" and the name's MD5 in hex.
func SeldonDeploymentID(name string) string {
	if len(name) > 63 {
		sum := md5.Sum([]byte(name))
		return "seldon-" + hex.EncodeToString(sum[:])
	}
	return name
}

// SeldonDeploymentOf returns the SeldonDeployment a pod's labels name: Seldon Core's operator
// sets seldon-deployment-id together with app.kubernetes.io/managed-by=seldon-core.
func SeldonDeploymentOf(labels map[string]string) (string, bool) {
	id := labels[SeldonDeploymentIDLabel]
	return id, id != "" && labels[ManagedByLabel] == SeldonManager
}

// TargetOf returns the group, kind and name a policy's targetRef names; ok is false for an
// apiVersion that does not parse, which targets nothing.
func TargetOf(ref v1alpha1.CrossVersionObjectReference) (gk schema.GroupKind, name string, ok bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return schema.GroupKind{}, "", false
	}
	return gv.WithKind(ref.Kind).GroupKind(), ref.Name, true
}

// Targets reports whether ref names the object. The version is ignored: a policy written
// against apps/v1beta2 still targets the apps/v1 Deployment.
func Targets(ref v1alpha1.CrossVersionObjectReference, gk schema.GroupKind, name string) bool {
	tgk, tname, ok := TargetOf(ref)
	return ok && tgk == gk && tname == name
}
