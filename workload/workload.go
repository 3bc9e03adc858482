// Package workload says which workload a pod belongs to: the controller owner chain, each link
// verified as the controller that made it would verify it, the owner kinds that are looked up on
// the way, Seldon Core's identity of a pod, and whether a policy's target is one of those
// workloads. The webhook's opt-in decision and the scaler's attribution of reports both use it,
// so they always agree on a pod's workload.
//
// The API server stores whatever owner references an object's creator writes: a bare pod may
// name any Deployment as its controller (a UID is readable by anyone who may list Deployments)
// and copy any labels. So no link is taken from a reference alone. Each one is accepted only as
// the controller at its end would accept it (the ReplicaSet, StatefulSet and Deployment
// controllers' claim rules in Kubernetes' pkg/controller): the owner is read and its UID is the
// reference's, its selector matches the child's labels, and the child carries the revision label
// the controller gave it; see verify.go for each link. Labels alone name no workload.
//
// The walk reads owners only through a Getter, as the objects the API server returned, and
// only for the kinds in Walked: reading any other kind would need RBAC the components do not
// have (and, through an informer cache, wait for a sync that never comes). An owner of another
// kind counts, from the reference of an owner that was verified, as the last link of the chain;
// named by the pod's own reference it is Claimed, which nothing vouches for.
package workload

import (
	"context"
	"crypto/md5" //nolint:gosec // the operator's naming, not security
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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
	ReplicaSet         = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	Deployment         = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	StatefulSet        = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	ControllerRevision = schema.GroupKind{Group: "apps", Kind: "ControllerRevision"}
	SeldonDeployment   = schema.GroupKind{Group: SeldonGroup, Kind: "SeldonDeployment"}

	SeldonDeploymentGVK = SeldonDeployment.WithVersion("v1")
)

// Walked are the owner kinds that are read to find their own owners and annotations.
var Walked = []schema.GroupVersionKind{
	ReplicaSet.WithVersion("v1"), Deployment.WithVersion("v1"), StatefulSet.WithVersion("v1"), SeldonDeploymentGVK,
}

// ReadKinds are the kinds a Getter is asked for: the walked owners, and the ControllerRevisions
// that a StatefulSet's pods name.
var ReadKinds = append(append([]schema.GroupVersionKind{}, Walked...), ControllerRevision.WithVersion("v1"))

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
	// Read: the object was read, its UID is the reference's, and the link to it was verified.
	Read Source = iota
	// Referenced: known from the controller reference of an owner that was Read, as its kind
	// is not walked; it is as trustworthy as that owner.
	Referenced
	// Claimed: known from the pod's own controller reference only, as its kind is not walked.
	// The pod's creator wrote it and nothing verified it: it never attributes reports.
	Claimed
)

// Owner is one workload the pod belongs to.
type Owner struct {
	GroupKind  schema.GroupKind
	APIVersion string
	Name       string
	UID        types.UID
	// Annotations and Owners are those of the object read; nil unless Source is Read.
	Annotations map[string]string
	Owners      []metav1.OwnerReference
	Source      Source
}

// String is "Kind/name" for messages.
func (o Owner) String() string { return o.GroupKind.Kind + "/" + o.Name }

// Object is what the walk needs of an object: its metadata and, for ReplicaSets, Deployments
// and StatefulSets, spec.selector, for StatefulSets also the revisions of status.
type Object struct {
	metav1.ObjectMeta
	Selector        *metav1.LabelSelector
	CurrentRevision string
	UpdateRevision  string
}

// Getter returns an object as the API server stores it, or nil when it does not exist, its
// kind is not served, or it cannot be read without waiting (no informer).
type Getter interface {
	Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*Object, error)
}

// ControllerOf returns the owner reference marked controller. An owner that is not the
// controller manages nothing, so it is never followed.
func ControllerOf(refs []metav1.OwnerReference) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// Pod is what the walk needs of a pod: a pod under creation has no namespace of its own yet.
type Pod struct {
	Namespace string
	Name      string
	Labels    map[string]string
	Owners    []metav1.OwnerReference
}

// ErrUnverified: a controller reference on the way up does not hold as its controller would
// verify it. The owners below it still hold.
var ErrUnverified = errors.New("owner reference not verified")

// Chain returns the pod's owners, nearest first: the controller owners up from the pod, each
// link verified (verify.go). When a link does not hold, Chain returns the owners below it and
// an error wrapping ErrUnverified that names the link and why; any other error means an owner
// could not be read.
func Chain(ctx context.Context, pod Pod, g Getter) ([]Owner, error) {
	var owners []Owner
	child := link{kind: schema.GroupKind{Kind: "Pod"}, name: pod.Name, labels: pod.Labels, owners: pod.Owners}
	for depth := 0; depth < MaxDepth; depth++ {
		ref, ok := ControllerOf(child.owners)
		if !ok {
			return owners, nil
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return owners, nil // the API server would not have stored it; nothing to follow
		}
		gvk := gv.WithKind(ref.Kind)
		if !IsWalked(gvk.GroupKind()) {
			src := Referenced
			if len(owners) == 0 {
				src = Claimed
			}
			return append(owners, Owner{GroupKind: gvk.GroupKind(), APIVersion: ref.APIVersion, Name: ref.Name, UID: ref.UID, Source: src}), nil
		}
		obj, err := g.Get(ctx, gvk, pod.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("reading owner %s %s/%s: %w", gvk.GroupKind(), pod.Namespace, ref.Name, err)
		}
		parent := link{kind: gvk.GroupKind(), obj: obj}
		if obj != nil {
			parent.name, parent.labels, parent.owners = obj.Name, obj.Labels, obj.OwnerReferences
		}
		if err := verify(ctx, pod.Namespace, child, ref, parent, g); err != nil {
			who := strings.ToLower(child.kind.Kind) + " " + child.name
			if child.name == "" {
				who = "the pod"
			}
			return owners, fmt.Errorf("%w: %s names %s %s as its controller, but %w", ErrUnverified, who, ref.Kind, ref.Name, err)
		}
		owners = append(owners, Owner{
			GroupKind: gvk.GroupKind(), APIVersion: gvk.GroupVersion().String(), Name: obj.Name, UID: obj.UID,
			Annotations: obj.Annotations, Owners: obj.OwnerReferences, Source: Read,
		})
		child = parent
	}
	return owners, nil
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
