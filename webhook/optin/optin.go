// Package optin decides whether a pod gets the inferscale agent, exactly as
// DESIGN.md says: the nearest explicit inferscale.io/inject annotation on the
// pod or its owners (ReplicaSet → Deployment → SeldonDeployment) wins; else
// a namespace label or an AutoscalingPolicy targeting one of the pod's owners
// opts it in. The decision is pure; what it needs from the API server comes
// through Lookup.
package optin

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// AnnotationInject is "true" to opt in, "false" to opt out.
	AnnotationInject = "inferscale.io/inject"
	// NamespaceLabel set to NamespaceEnabled opts in every pod of a namespace.
	NamespaceLabel   = "inferscale.io/injection"
	NamespaceEnabled = "enabled"

	// Seldon Core's pod labels: the SeldonDeployment's name, and its manager.
	SeldonDeploymentIDLabel = "seldon-deployment-id"
	ManagedByLabel          = "app.kubernetes.io/managed-by"
	SeldonManager           = "seldon-core"

	// maxOwnerDepth bounds the owner walk: Pod → ReplicaSet → Deployment →
	// SeldonDeployment is three hops; a cycle or an odd operator stops here.
	maxOwnerDepth = 5
)

// SeldonDeploymentGVK is Seldon Core v1's workload kind.
var SeldonDeploymentGVK = schema.GroupVersionKind{Group: "machinelearning.seldon.io", Version: "v1", Kind: "SeldonDeployment"}

// Object is an owner of the pod as far as the decision cares: its identity
// and annotations.
type Object struct {
	GroupKind   schema.GroupKind
	APIVersion  string
	Name        string
	UID         types.UID
	Annotations map[string]string
	// Owners are the object's own owner references.
	Owners []metav1.OwnerReference
}

// String is "Kind/name" for messages.
func (o Object) String() string { return o.GroupKind.Kind + "/" + o.Name }

// Lookup is what the decision reads from the API server (an informer cache
// in production). Missing objects and kinds are (nil, nil) or "": a pod whose
// owner is gone or whose owner's CRD is not installed is decided without it.
type Lookup interface {
	// NamespaceLabels returns the labels of the namespace.
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
	// Owner returns the object an owner reference of an object in namespace points to.
	Owner(ctx context.Context, namespace string, ref metav1.OwnerReference) (*Object, error)
	// PolicyTargeting returns the name of an AutoscalingPolicy in namespace
	// whose targetRef is the object, or "".
	PolicyTargeting(ctx context.Context, namespace string, gk schema.GroupKind, name string) (string, error)
}

// Options are the fixed parts of the decision.
type Options struct {
	// ExcludedNamespaces never get the agent: the system's and inferscale's own.
	ExcludedNamespaces []string
}

// DefaultOptions excludes kube-system and inferscale-system.
func DefaultOptions() Options {
	return Options{ExcludedNamespaces: []string{metav1.NamespaceSystem, "inferscale-system"}}
}

// Decision is whether to inject, and why, for logs, events and warnings.
type Decision struct {
	Inject bool
	// Reason says what decided, e.g. `annotation inferscale.io/inject="true" on Deployment/llama`.
	Reason string
	// Owners are the pod's owners, nearest first, as far as they could be read.
	Owners []Object
	// Seldon is true when the pod belongs to a SeldonDeployment, by owner chain or labels.
	Seldon bool
	// Warnings are for the user, e.g. an inject annotation that is neither true nor false.
	Warnings []string
}

// Top returns the pod's top owner, or nil when it has none.
func (d *Decision) Top() *Object {
	if len(d.Owners) == 0 {
		return nil
	}
	return &d.Owners[len(d.Owners)-1]
}

// Decide decides for pod, created in namespace (a pod under creation may
// carry no namespace of its own). An error means an owner, the namespace or
// the policies could not be read; the caller must then fail safe.
func Decide(ctx context.Context, pod *corev1.Pod, namespace string, l Lookup, opts Options) (Decision, error) {
	var d Decision
	for _, ns := range opts.ExcludedNamespaces {
		if namespace == ns {
			d.Reason = "namespace " + ns + " is excluded"
			return d, nil
		}
	}
	if pod.Spec.HostNetwork {
		d.Reason = "the pod uses the host network"
		return d, nil
	}

	owners, err := ownersOf(ctx, pod, namespace, l)
	if err != nil {
		return d, err
	}
	d.Owners = owners
	for _, o := range owners {
		if o.GroupKind == SeldonDeploymentGVK.GroupKind() {
			d.Seldon = true
		}
	}

	// The nearest explicit annotation wins: the pod's (its template's), then
	// each owner's going up.
	explicit := func(what string, ann map[string]string) bool {
		v, ok := ann[AnnotationInject]
		if !ok {
			return false
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s on %s is %q, neither true nor false: ignored", AnnotationInject, what, v))
			return false
		}
		d.Inject = b
		d.Reason = fmt.Sprintf("annotation %s=%q on %s", AnnotationInject, v, what)
		return true
	}
	if explicit("the pod", pod.Annotations) {
		return d, nil
	}
	for _, o := range owners {
		if explicit(o.String(), o.Annotations) {
			return d, nil
		}
	}

	labels, err := l.NamespaceLabels(ctx, namespace)
	if err != nil {
		return d, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	if labels[NamespaceLabel] == NamespaceEnabled {
		d.Inject = true
		d.Reason = fmt.Sprintf("namespace %s has label %s=%s", namespace, NamespaceLabel, NamespaceEnabled)
		return d, nil
	}

	// A policy may target any owner: the top one usually, but also, say, a
	// Deployment that Seldon owns.
	for _, o := range owners {
		name, err := l.PolicyTargeting(ctx, namespace, o.GroupKind, o.Name)
		if err != nil {
			return d, fmt.Errorf("finding policies for %s: %w", o, err)
		}
		if name != "" {
			d.Inject = true
			d.Reason = fmt.Sprintf("AutoscalingPolicy %s targets %s", name, o)
			return d, nil
		}
	}
	d.Reason = "not opted in"
	return d, nil
}

// ownersOf walks the controller owner references up from the pod. When the
// walk does not reach a SeldonDeployment but the pod carries Seldon's labels
// (an owner not cached yet, or a Seldon version that owns pods differently),
// the SeldonDeployment the labels name is added as the top owner.
func ownersOf(ctx context.Context, pod *corev1.Pod, namespace string, l Lookup) ([]Object, error) {
	var owners []Object
	refs := pod.OwnerReferences
	for depth := 0; depth < maxOwnerDepth; depth++ {
		ref, ok := controllerOf(refs)
		if !ok {
			break
		}
		o, err := l.Owner(ctx, namespace, ref)
		if err != nil {
			return nil, fmt.Errorf("reading owner %s/%s of the pod: %w", ref.Kind, ref.Name, err)
		}
		if o == nil {
			break
		}
		owners = append(owners, *o)
		refs = o.Owners
	}

	sdep := pod.Labels[SeldonDeploymentIDLabel]
	if sdep == "" || pod.Labels[ManagedByLabel] != SeldonManager {
		return owners, nil
	}
	for _, o := range owners {
		if o.GroupKind == SeldonDeploymentGVK.GroupKind() {
			return owners, nil
		}
	}
	ref := metav1.OwnerReference{APIVersion: SeldonDeploymentGVK.GroupVersion().String(), Kind: SeldonDeploymentGVK.Kind, Name: sdep}
	o, err := l.Owner(ctx, namespace, ref)
	if err != nil {
		return nil, fmt.Errorf("reading SeldonDeployment %s named by the pod's %s label: %w", sdep, SeldonDeploymentIDLabel, err)
	}
	if o == nil {
		// Not readable (no CRD, not cached): the name is still known, and a
		// policy may target it.
		o = &Object{GroupKind: SeldonDeploymentGVK.GroupKind(), APIVersion: ref.APIVersion, Name: sdep}
	}
	return append(owners, *o), nil
}

// controllerOf returns the managing owner: the one marked controller, else
// the only one.
func controllerOf(refs []metav1.OwnerReference) (metav1.OwnerReference, bool) {
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
