package agent

import (
	"strings"
	"testing"

	"github.com/inferscale/inferscale/internal/deptest"
)

// TestNoKubernetesClient keeps the sidecar lean: no client-go or controller-runtime under
// agent/ and in its binary, and no grpc-go, which would cost the idle agent about 4.5 MiB of
// resident memory (only the tests use it, as a real server).
func TestNoKubernetesClient(t *testing.T) {
	deptest.Forbid(t, []string{"github.com/inferscale/inferscale/agent/...", "github.com/inferscale/inferscale/cmd/inferscale-agent"}, func(dep string) bool {
		return strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") || strings.HasPrefix(dep, "google.golang.org/grpc")
	})
}
