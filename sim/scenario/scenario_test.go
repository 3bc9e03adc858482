package scenario

import (
	"bytes"
	"strings"
	"testing"

	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
)

func TestBuiltinPoliciesAreValid(t *testing.T) {
	for _, name := range []string{"e2e", model.DefaultPreset} {
		m := model.Presets[name]
		p, err := DefaultPolicy(&m)
		if err != nil {
			t.Fatal(err)
		}
		if len(sim.SLOOf(p)) == 0 {
			t.Errorf("%s: the default policy has no latency target", name)
		}
	}
}

// The headline scenarios, cut to a twentieth of their length, run under every built-in
// autoscaler: the code `make bench-sim` runs is the code CI tests.
func TestHeadlinesShort(t *testing.T) {
	var out bytes.Buffer
	rows, err := RunHeadlines(&out, nil, "../testdata/azure-llm-inference-2023-code.csv", 0.05, sim.Builtin(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// 5 scenarios × 2 start delays × (3 autoscalers + the oracle).
	if len(rows) != 5*2*4 {
		t.Fatalf("%d rows:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if r.Requests == 0 {
			t.Errorf("%s, %s, %s: no requests", r.Scenario, r.StartDelay, r.Autoscaler)
		}
	}
	md := Markdown(rows)
	if strings.Count(md, "\n") != len(rows)+2 || !strings.Contains(md, "| azure-code×10 | 2s | oracle |") {
		t.Errorf("markdown:\n%s", md)
	}
}
