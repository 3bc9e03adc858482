package policy

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
)

// ResourceLister is the part of client-go's discovery client DiscoveryScales uses.
type ResourceLister interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// DiscoveryScales answers HasScale from the RESTMapper (is the kind known?)
// and discovery (does its resource have a "/scale" subresource?). Discovery
// answers are kept for TTL: policies are created rarely, but a burst of
// applies should not each cost a discovery round trip.
type DiscoveryScales struct {
	Mapper    meta.RESTMapper
	Discovery ResourceLister
	Clock     clock.PassiveClock
	TTL       time.Duration

	mu    sync.Mutex
	cache map[string]discovered
}

type discovered struct {
	at        time.Time
	resources map[string]bool
}

var _ ScaleChecker = (*DiscoveryScales)(nil)

// HasScale implements ScaleChecker.
func (d *DiscoveryScales) HasScale(_ context.Context, gvk schema.GroupVersionKind) (bool, bool, error) {
	mapping, err := d.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// The version may be gone while the kind lives on in another.
		mapping, err = d.Mapper.RESTMapping(gvk.GroupKind())
	}
	if meta.IsNoMatchError(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	gv := mapping.Resource.GroupVersion().String()
	resources, err := d.resources(gv)
	if apierrors.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return true, resources[mapping.Resource.Resource+"/scale"], nil
}

func (d *DiscoveryScales) resources(gv string) (map[string]bool, error) {
	now := d.Clock.Now()
	d.mu.Lock()
	c, ok := d.cache[gv]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < d.TTL {
		return c.resources, nil
	}
	list, err := d.Discovery.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return nil, err
	}
	c = discovered{at: now, resources: map[string]bool{}}
	for _, r := range list.APIResources {
		c.resources[r.Name] = true
	}
	d.mu.Lock()
	if d.cache == nil {
		d.cache = map[string]discovered{}
	}
	d.cache[gv] = c
	d.mu.Unlock()
	return c.resources, nil
}
