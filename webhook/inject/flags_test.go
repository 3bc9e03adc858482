package inject

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestAgentLogFlagsReachTheSidecar(t *testing.T) {
	cfg := testConfig()
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg.BindFlags(fs)
	if err := fs.Parse([]string{"--agent-log-level=debug", "--agent-log-format=console"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Inject(podOf(nil, container("model", cport("http", 8000))), cfg)
	if err != nil {
		t.Fatal(err)
	}
	args := agentOf(t, res.Pod).Args
	for _, want := range []string{"--log-level=debug", "--log-format=console"} {
		if !slices.Contains(args, want) {
			t.Errorf("agent args %q lack %s", args, want)
		}
	}

	// By default the agent's own defaults hold: nothing is rendered.
	res, err = Inject(podOf(nil, container("model", cport("http", 8000))), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range agentOf(t, res.Pod).Args {
		if strings.HasPrefix(a, "--log-") {
			t.Errorf("default template renders %s", a)
		}
	}

	cfg = testConfig()
	cfg.AgentLogLevel = "loud"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("an invalid --agent-log-level: %v, want the webhook to refuse it at start", err)
	}
}
