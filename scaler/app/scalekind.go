package app

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/scale"
	"k8s.io/utils/clock"
)

// refreshingScaleKinds resolves the kind of a resource's /scale through
// cached discovery, and forgets the cache when a resource is not in it: a
// target whose CRD was installed after the scaler started (a
// SeldonDeployment, say) must become scalable without a restart. Forgetting
// is rate-limited, so a policy whose target kind really is unknown does not
// re-read all of discovery every tick.
type refreshingScaleKinds struct {
	resolver   scale.ScaleKindResolver
	cache      interface{ Invalidate() }
	clock      clock.PassiveClock
	minRefresh time.Duration

	mu          sync.Mutex
	lastRefresh time.Time
}

func (r *refreshingScaleKinds) ScaleForResource(gvr schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	gvk, err := r.resolver.ScaleForResource(gvr)
	if err == nil || !r.mayRefresh() {
		return gvk, err
	}
	r.cache.Invalidate()
	return r.resolver.ScaleForResource(gvr)
}

func (r *refreshingScaleKinds) mayRefresh() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if !r.lastRefresh.IsZero() && now.Sub(r.lastRefresh) < r.minRefresh {
		return false
	}
	r.lastRefresh = now
	return true
}
