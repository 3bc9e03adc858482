package scenario

import (
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
	for _, h := range Headlines("../testdata/azure-llm-inference-2023-code.csv", 0.05) {
		sc, err := HeadlineScenario(h, StartDelays[1], 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.Requests) == 0 {
			t.Fatalf("%s: no requests", h.Name)
		}
		res, err := sim.Compare(sc, sim.Builtin())
		if err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		if len(res) != 4 || res[0].Requests != len(sc.Requests) {
			t.Errorf("%s: %d results", sc.Name, len(res))
		}
	}
}
