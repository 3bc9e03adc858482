// Package optin decides whether a pod gets the inferscale agent: the pod's own
// inferscale.io/inject annotation (its template's) is decided first, before any owner is
// read; else the nearest explicit annotation on its owners (ReplicaSet → Deployment →
// SeldonDeployment, StatefulSet, as package workload walks and verifies them) wins; else a
// namespace label or an AutoscalingPolicy targeting one of the pod's owners opts it in. Only
// owners the scaler would attribute the pod's reports to count: those below a link that does
// not verify, and a kind named only by the pod's own reference, opt nothing in. The decision
// is pure; what it needs from the API server comes through Lookup.
package optin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/inferscale/inferscale/workload"
)

const (
	// AnnotationInject is "true" to opt in, "false" to opt out.
	AnnotationInject = "inferscale.io/inject"
	// NamespaceLabel set to NamespaceEnabled opts in every pod of a namespace.
	NamespaceLabel   = "inferscale.io/injection"
	NamespaceEnabled = "enabled"
)

// Lookup is what the decision reads from the API server (an informer cache in production).
// Missing objects and kinds are (nil, nil) or "": a pod whose owner is gone or whose owner's
// CRD is not installed is decided without it.
type Lookup interface {
	// Getter reads the pod's owners.
	workload.Getter
	// NamespaceLabels returns the labels of the namespace.
	NamespaceLabels(ctx context.Context, name string) (map[string]string, error)
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
	Owners []workload.Owner
	// Warnings are for the user, e.g. an inject annotation that is neither true nor false.
	Warnings []string
}

// Top returns the pod's top owner, or nil when it has none.
func (d *Decision) Top() *workload.Owner {
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

	// The nearest explicit annotation wins: the pod's (its template's) first, decided
	// before any owner is read, then each owner's going up.
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
	podRef := workload.Pod{Namespace: namespace, Name: pod.Name, Labels: pod.Labels, Owners: pod.OwnerReferences}
	if explicit("the pod", pod.Annotations) {
		if d.Inject {
			// Only to name the workload in Events and warnings: an owner that cannot be
			// read does not undo the pod's own choice.
			owners, err := workload.Chain(ctx, podRef, l)
			if err != nil {
				d.Warnings = append(d.Warnings, "the pod's owners could not be read: "+err.Error())
			}
			d.Owners = owners
		}
		return d, nil
	}

	owners, err := workload.Chain(ctx, podRef, l)
	switch {
	case errors.Is(err, workload.ErrUnverified):
		// A pod's creator may write any owner reference: decided on the owners that hold.
		d.Warnings = append(d.Warnings, err.Error()+"; the pod is not that workload's")
	case err != nil:
		return d, err
	}
	d.Owners = owners
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
		if o.Source == workload.Claimed {
			continue
		}
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
