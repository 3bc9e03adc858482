package app

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeDiscovery knows a resource's scale kind only after it is invalidated
// once the CRD exists, as a memory-cached discovery client does.
type fakeDiscovery struct {
	installed, cached bool
	invalidations     int
}

func (f *fakeDiscovery) Invalidate() {
	f.invalidations++
	f.cached = f.installed
}

func (f *fakeDiscovery) ScaleForResource(gvr schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	if !f.cached {
		return schema.GroupVersionKind{}, errors.New("unable to fetch discovery information: not found")
	}
	return schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, nil
}

func TestScaleKindsFindACRDInstalledLater(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	disc := &fakeDiscovery{}
	r := &refreshingScaleKinds{resolver: disc, cache: disc, clock: clk, minRefresh: 30 * time.Second}
	sdep := schema.GroupVersionResource{Group: "machinelearning.seldon.io", Version: "v1", Resource: "seldondeployments"}

	if _, err := r.ScaleForResource(sdep); err == nil {
		t.Fatal("resolved a resource whose CRD is not installed")
	}
	// The CRD arrives; within the rate limit the cache is not forgotten again.
	disc.installed = true
	if _, err := r.ScaleForResource(sdep); err == nil || disc.invalidations != 1 {
		t.Fatalf("refreshed within the rate limit: err %v, %d invalidations", err, disc.invalidations)
	}
	clk.Step(31 * time.Second)
	if _, err := r.ScaleForResource(sdep); err != nil || disc.invalidations != 2 {
		t.Fatalf("after the rate limit: err %v, %d invalidations", err, disc.invalidations)
	}
	// Known now: no further refreshes.
	clk.Step(time.Hour)
	if _, err := r.ScaleForResource(sdep); err != nil || disc.invalidations != 2 {
		t.Fatalf("a known resource refreshed discovery: err %v, %d invalidations", err, disc.invalidations)
	}
}
