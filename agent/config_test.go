package agent

import (
	"flag"
	"os"
	"strings"
	"testing"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

// TestREADMEListsEveryFlag keeps the table the webhook is built from in step with the flags.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c agentv1.Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.BindFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		row := "| `--" + f.Name + "` | `" + agentv1.EnvName(f.Name) + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no row %q", row)
		}
	})
}
