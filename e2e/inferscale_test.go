//go:build e2e

package e2e

import (
	"context"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/e2e/install"
)

// The tests' controller-runtime clients have nothing to log; say so once
// instead of a warning with a stack trace on first use.
func init() { ctrllog.SetLogger(logr.Discard()) }

var (
	installOnce sync.Once
	installErr  error
)

// requireInferscale installs inferscale with its Helm chart once for the whole
// run (images built, helm install, webhook answering) and fails the test if that
// did not work. The chart renders what manifests/default does (charts/render_test.go);
// the demo installs with kubectl apply -k.
func requireInferscale(t *testing.T) {
	t.Helper()
	installOnce.Do(func() { installErr = install.Chart(context.Background(), testCluster) })
	if installErr != nil {
		t.Fatalf("install inferscale: %v", installErr)
	}
}

// newClient is a controller-runtime client that knows AutoscalingPolicy.
func newClient(t *testing.T) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(testCluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
