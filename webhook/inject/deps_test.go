package inject

import (
	"strings"
	"testing"

	"github.com/inferscale/inferscale/internal/deptest"
)

// TestWebhookDoesNotImportTheAgent: the webhook knows the agent only through its configuration
// contract (api/agent/v1), never through the agent's packages.
func TestWebhookDoesNotImportTheAgent(t *testing.T) {
	deptest.Forbid(t, []string{"github.com/inferscale/inferscale/webhook/...", "github.com/inferscale/inferscale/cmd/inferscale-webhook"}, func(dep string) bool {
		return dep == "github.com/inferscale/inferscale/agent" || strings.HasPrefix(dep, "github.com/inferscale/inferscale/agent/")
	})
}
