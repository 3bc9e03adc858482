package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKubernetesClient keeps the sidecar lean: DESIGN.md forbids client-go and
// controller-runtime under agent/ and in its binary, and grpc-go would cost the idle agent
// about 4.5 MiB of resident memory (only the tests use it, as a real server).
func TestNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/inferscale/inferscale/agent/...", "github.com/inferscale/inferscale/cmd/inferscale-agent").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") || strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("the agent depends on %s", dep)
		}
	}
}
