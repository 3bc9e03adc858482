package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/workload"
)

// informers fails GetInformer for the kinds in fail; nothing else of cache.Informers is used.
type informers struct {
	cache.Informers
	mu     sync.Mutex
	fail   map[string]error
	gotten []string
}

func (f *informers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kind = "typed"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gotten = append(f.gotten, kind)
	return nil, f.fail[kind]
}

func (f *informers) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gotten)
}

func TestWarmupSkipsKindsWithoutCRDAndGatesReadiness(t *testing.T) {
	noCRD := &meta.NoKindMatchError{GroupKind: workload.SeldonDeployment}
	f := &informers{fail: map[string]error{"SeldonDeployment": noCRD}}
	w := &warmup{cache: f, retry: time.Millisecond}
	if w.check(nil) == nil {
		t.Fatal("ready before the informers started")
	}
	done := make(chan error, 1)
	go func() { done <- w.Start(context.Background()) }()
	for w.check(nil) != nil {
		time.Sleep(time.Millisecond)
	}
	if got := f.got(); len(got) < len(informed()) {
		t.Errorf("started %v, want every informed kind", got)
	}
	// The CRD appears: its informer starts on a retry, and the warm-up is done.
	f.mu.Lock()
	delete(f.fail, "SeldonDeployment")
	f.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := f.got(); got[len(got)-1] != "SeldonDeployment" {
		t.Errorf("last informer started %v, want the SeldonDeployment's once its CRD is served", got)
	}

	boom := errors.New("forbidden")
	w = &warmup{cache: &informers{fail: map[string]error{"ControllerRevision": boom}}, retry: time.Hour}
	if err := w.Start(context.Background()); !errors.Is(err, boom) || w.check(nil) == nil {
		t.Errorf("Start = %v, ready %v: want the error and not ready", err, w.check(nil) == nil)
	}
}
