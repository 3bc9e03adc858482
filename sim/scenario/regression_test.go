package scenario

import (
	"io"
	"testing"
	"time"

	"github.com/inferscale/inferscale/sim"
)

// TestHeadlineRegression runs the headline table at full length (seed 1, deterministic) and
// holds inferscale to what it achieves against the baselines of the same run: at most half
// the SLO-violation-seconds of HPA on cpu and at most 1.3× the replica-seconds of the
// KEDA-style baseline, in every scenario and at both start delays. Skipped with -short.
func TestHeadlineRegression(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test runs the whole headline table, 50 simulated runs")
	}
	rows, err := RunHeadlines(io.Discard, nil, "../testdata/azure-llm-inference-2023-code.csv", 1, sim.Builtin(), 1)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		scenario string
		start    time.Duration
	}
	by := map[key]map[string]int{}
	for i, r := range rows {
		k := key{r.Scenario, r.StartDelay}
		if by[k] == nil {
			by[k] = map[string]int{}
		}
		by[k][r.Autoscaler] = i
	}
	for k, idx := range by {
		is, hpa, keda := rows[idx["inferscale"]], rows[idx["hpa-cpu"]], rows[idx["keda"]]
		if float64(is.SLOViolationSeconds) > 0.5*float64(hpa.SLOViolationSeconds) {
			t.Errorf("%s, start %s: violation-seconds %d, more than half of hpa-cpu's %d", k.scenario, k.start, is.SLOViolationSeconds, hpa.SLOViolationSeconds)
		}
		if is.ReplicaSeconds > 1.3*keda.ReplicaSeconds {
			t.Errorf("%s, start %s: replica-seconds %.0f, more than 1.3× keda's %.0f", k.scenario, k.start, is.ReplicaSeconds, keda.ReplicaSeconds)
		}
	}
}
