package server

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/webhook/optin"
)

// informers fails GetInformer for the kinds in fail; nothing else of cache.Informers is used.
type informers struct {
	cache.Informers
	fail   map[string]error
	gotten []string
}

func (f *informers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		kind = "typed"
	}
	f.gotten = append(f.gotten, kind)
	return nil, f.fail[kind]
}

func TestWarmupSkipsKindsWithoutCRDAndGatesReadiness(t *testing.T) {
	noCRD := &meta.NoKindMatchError{GroupKind: optin.SeldonDeploymentGVK.GroupKind()}
	f := &informers{fail: map[string]error{"SeldonDeployment": noCRD}}
	w := &warmup{cache: f}
	if w.check(nil) == nil {
		t.Fatal("ready before the informers started")
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := w.check(nil); err != nil {
		t.Errorf("not ready after warm-up: %v", err)
	}
	if len(f.gotten) != len(informed()) {
		t.Errorf("started %v, want every informed kind", f.gotten)
	}

	boom := errors.New("forbidden")
	w = &warmup{cache: &informers{fail: map[string]error{"ReplicaSet": boom}}}
	if err := w.Start(context.Background()); !errors.Is(err, boom) || w.check(nil) == nil {
		t.Errorf("Start = %v, ready %v: want the error and not ready", err, w.check(nil) == nil)
	}
}
