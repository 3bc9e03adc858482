package sim

import (
	"strings"
	"testing"

	"github.com/inferscale/inferscale/internal/deptest"
)

// TestNoKubernetesClient keeps the simulator a pure program: nothing under sim/ of this
// module reaches client-go, controller-runtime or Knative (which has a module of its own).
func TestNoKubernetesClient(t *testing.T) {
	deptest.Forbid(t, []string{"github.com/inferscale/inferscale/sim/..."}, func(dep string) bool {
		return strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "sigs.k8s.io/controller-runtime") || strings.HasPrefix(dep, "knative.dev/")
	})
}
