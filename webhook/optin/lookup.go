package optin

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// ClientLookup reads owners and namespaces as metadata only, so it needs no
// Go types for them (a SeldonDeployment works without Seldon's module, and
// without its CRD installed) and its informers hold little memory.
type ClientLookup struct {
	// Cache is the informer-backed reader every lookup tries first.
	Cache client.Reader
	// Live, when set, is asked when the cache has no such owner: a
	// ReplicaSet creates its first pods a few milliseconds after it is
	// created itself, possibly before the webhook's watch delivered it.
	Live client.Reader
}

var _ Lookup = (*ClientLookup)(nil)

func (l *ClientLookup) get(ctx context.Context, gvk schema.GroupVersionKind, key client.ObjectKey) (*metav1.PartialObjectMetadata, error) {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	err := l.Cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && l.Live != nil {
		err = l.Live.Get(ctx, key, obj)
	}
	switch {
	case err == nil:
		return obj, nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		return nil, nil
	default:
		return nil, err
	}
}

// NamespaceLabels implements Lookup.
func (l *ClientLookup) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns, err := l.get(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, client.ObjectKey{Name: name})
	if err != nil || ns == nil {
		return nil, err
	}
	return ns.Labels, nil
}

// Owner implements Lookup.
func (l *ClientLookup) Owner(ctx context.Context, namespace string, ref metav1.OwnerReference) (*Object, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("owner %s/%s: apiVersion %q: %w", ref.Kind, ref.Name, ref.APIVersion, err)
	}
	obj, err := l.get(ctx, gv.WithKind(ref.Kind), client.ObjectKey{Namespace: namespace, Name: ref.Name})
	if err != nil || obj == nil {
		return nil, err
	}
	// A reference with a UID that no longer matches points to an object
	// deleted and re-created under the same name: not this pod's owner.
	if ref.UID != "" && obj.UID != ref.UID {
		return nil, nil
	}
	return &Object{
		GroupKind:   gv.WithKind(ref.Kind).GroupKind(),
		APIVersion:  ref.APIVersion,
		Name:        ref.Name,
		UID:         obj.UID,
		Annotations: obj.Annotations,
		Owners:      obj.OwnerReferences,
	}, nil
}

// PolicyTargeting implements Lookup.
func (l *ClientLookup) PolicyTargeting(ctx context.Context, namespace string, gk schema.GroupKind, name string) (string, error) {
	var list v1alpha1.AutoscalingPolicyList
	if err := l.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		if meta.IsNoMatchError(err) {
			return "", nil // the CRD is not installed: no policy targets anything
		}
		return "", err
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && Targets(p.Spec.Target(), gk, name) {
			return p.Name, nil
		}
	}
	return "", nil
}

// Targets reports whether ref names the object. The version is ignored: a
// policy written against apps/v1beta2 still targets the apps/v1 Deployment.
func Targets(ref v1alpha1.CrossVersionObjectReference, gk schema.GroupKind, name string) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == gk.Group && ref.Kind == gk.Kind && ref.Name == name
}
