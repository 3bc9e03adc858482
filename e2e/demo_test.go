//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/inferscale/inferscale/e2e/demo"
	"github.com/inferscale/inferscale/e2e/images"
)

// TestDemoScalesUpUnderLoadAndBackDown is `make demo` with a shorter load
// profile: the full loop of webhook, agent and scaler on a real cluster.
func TestDemoScalesUpUnderLoadAndBackDown(t *testing.T) {
	requireInferscale(t)
	ctx := context.Background()
	built, err := testCluster.BuildImages(ctx, images.Spec{Name: "loadgen", GoPackage: "github.com/inferscale/inferscale/e2e/loadgen"})
	if err != nil {
		t.Fatal(err)
	}
	target := 300 * time.Millisecond
	res, err := demo.Run(ctx, demo.Options{
		Kubeconfig:   testCluster.Kubeconfig,
		Kubectl:      filepath.Join(testCluster.BinDir, "kubectl"),
		Namespace:    "e2e-demo",
		ModelImage:   modelServer.Ref,
		LoadgenImage: built[0].Ref,
		Profile:      "5s@2,30s@200,5s@0",
		TargetP99:    target,
		Settle:       70 * time.Second,
		PrintEvery:   5 * time.Second,
		Progress:     testWriter{t},
	}, testCluster.Client, newClient(t))
	t.Cleanup(func() { kubectl(t, "delete", "namespace", "e2e-demo", "--wait=false") })
	if err != nil {
		t.Fatal(err)
	}
	sum := demo.Summarize(res.Samples, float64(target.Milliseconds()))
	if dir := os.Getenv(envLogs); dir != "" {
		if f, err := os.Create(filepath.Join(dir, "demo.svg")); err == nil {
			_ = demo.WriteChart(f, res.Samples, float64(target.Milliseconds()))
			f.Close()
		}
	}
	if !sum.ScaledUpUnder {
		t.Fatalf("no scale-up under 200 req/s against one replica that serves 80: %+v", sum)
	}
	if !sum.ScaledBackDown {
		t.Fatalf("no scale-down within %s after the load stopped: %+v", 70*time.Second, sum)
	}
}

// testWriter sends the demo's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
