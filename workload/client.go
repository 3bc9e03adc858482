package workload

import (
	"context"
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClientGetter reads ReplicaSets, Deployments and StatefulSets as their typed objects (the
// informers keep only what Object holds: see CacheOptions) and every other kind as metadata
// only, so it needs no Go types for them (a SeldonDeployment works without Seldon's module,
// and without its CRD installed) and the informers behind it hold little memory.
type ClientGetter struct {
	// Cache is the informer-backed reader tried first. Built with ReaderFailOnMissingInformer,
	// a kind without an informer is "no such owner" at once instead of an informer started and
	// waited for on the request path.
	Cache client.Reader
	// Live, when set, is asked when the cache has no such object or no informer for its kind
	// yet: a ReplicaSet creates its first pods a few milliseconds after it is created itself,
	// possibly before the watch delivered it, and a CRD may be installed after the start.
	Live client.Reader
}

var _ Getter = ClientGetter{}

// Get implements Getter.
func (g ClientGetter) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*Object, error) {
	obj, out := readable(gvk)
	key := client.ObjectKey{Namespace: namespace, Name: name}
	err := g.Cache.Get(ctx, key, obj)
	var notCached *cache.ErrResourceNotCached
	// Not cached yet: a CRD installed after the start has no informer until the warm-up's
	// next retry; one GET answers now instead.
	if (apierrors.IsNotFound(err) || errors.As(err, &notCached)) && g.Live != nil {
		err = g.Live.Get(ctx, key, obj)
	}
	switch {
	case err == nil:
		return out(), nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err), errors.As(err, &notCached):
		return nil, nil
	default:
		return nil, err
	}
}

// readable returns the object to read gvk into and how to turn it into an Object.
func readable(gvk schema.GroupVersionKind) (client.Object, func() *Object) {
	switch gvk.GroupKind() {
	case ReplicaSet:
		rs := &appsv1.ReplicaSet{}
		return rs, func() *Object { return &Object{ObjectMeta: rs.ObjectMeta, Selector: rs.Spec.Selector} }
	case Deployment:
		d := &appsv1.Deployment{}
		return d, func() *Object { return &Object{ObjectMeta: d.ObjectMeta, Selector: d.Spec.Selector} }
	case StatefulSet:
		s := &appsv1.StatefulSet{}
		return s, func() *Object {
			return &Object{ObjectMeta: s.ObjectMeta, Selector: s.Spec.Selector, CurrentRevision: s.Status.CurrentRevision, UpdateRevision: s.Status.UpdateRevision}
		}
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m, func() *Object { return &Object{ObjectMeta: m.ObjectMeta} }
}
