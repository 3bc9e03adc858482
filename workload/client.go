package workload

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClientGetter reads owners as metadata only, so it needs no Go types for them (a
// SeldonDeployment works without Seldon's module, and without its CRD installed) and the
// informers behind it hold little memory.
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
func (g ClientGetter) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*metav1.PartialObjectMetadata, error) {
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
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
		return obj, nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err), errors.As(err, &notCached):
		return nil, nil
	default:
		return nil, err
	}
}
