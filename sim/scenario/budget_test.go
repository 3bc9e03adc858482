package scenario

import (
	"testing"

	"github.com/inferscale/inferscale/sim"
)

// Under the budget the two services never ask the cluster for more GPUs than it holds, the
// higher priority keeps its SLO better than the preemptible one, which is preempted for it;
// without the budget the same services take more than it holds at their peaks.
func TestTwoServicesOnOneGPUBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates two services for 10 minutes each; skipped with -short")
	}
	peak := func(res []sim.BudgetResult) int32 {
		var most int32
		for s := range res[0].Result.Samples {
			var sum int32
			for _, r := range res {
				if s < len(r.Result.Samples) {
					sum += r.Result.Samples[s].Desired
				}
			}
			most = max(most, sum)
		}
		return most
	}
	shared, b, err := TwoServices(0.6, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.RunBudget(shared, b)
	if err != nil {
		t.Fatal(err)
	}
	if p := peak(res); p > TwoServicesGPUs {
		t.Errorf("the services asked for %d GPUs at once under a budget of %d", p, TwoServicesGPUs)
	}
	chat, batch := res[0], res[1]
	if chat.Result.SLOAttainment() <= batch.Result.SLOAttainment() || batch.Preemptions == 0 || chat.Preemptions != 0 {
		t.Errorf("chat (priority 100) SLO %.3f, batch (0, preemptible) %.3f, preemptions %d / %d: want chat ahead and only batch preempted",
			chat.Result.SLOAttainment(), batch.Result.SLOAttainment(), chat.Preemptions, batch.Preemptions)
	}

	alone, unbounded, err := TwoServices(0.6, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	free, err := sim.RunBudget(alone, unbounded)
	if err != nil {
		t.Fatal(err)
	}
	if p := peak(free); p <= TwoServicesGPUs {
		t.Errorf("without the budget the services peak at %d GPUs: the scenario does not test the budget", p)
	}
	if free[0].TrimmedSeconds != 0 || free[1].TrimmedSeconds != 0 {
		t.Errorf("an unbounded budget trimmed: %d, %d", free[0].TrimmedSeconds, free[1].TrimmedSeconds)
	}
}
