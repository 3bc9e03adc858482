package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/inferscale/inferscale/scaler/budget"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/scenario"
)

// runBudgetScenario runs a built-in scenario of several services sharing a budget, once
// under the budget and once with each service alone, and prints what the budget costs each.
func runBudgetScenario(name string, seed uint64, stdout io.Writer) error {
	if name != "two-services" {
		return usageError{fmt.Errorf("--budget-scenario %q: want two-services", name)}
	}
	shared, b, err := scenario.TwoServices(1, seed, false)
	if err != nil {
		return err
	}
	alone, unbounded, err := scenario.TwoServices(1, seed, true)
	if err != nil {
		return err
	}
	withBudget, err := sim.RunBudget(shared, b)
	if err != nil {
		return err
	}
	without, err := sim.RunBudget(alone, unbounded)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "two services of the GPU preset (1 GPU per replica) on budget %s of %s: chat 5 → 40 → 5 req/s, batch 15 req/s\n\n",
		b.Name, budget.Format(b.Resource, b.Max))
	return WriteBudgetTable(stdout, shared, withBudget, without)
}

// WriteBudgetTable prints each service under the budget beside the same service alone.
func WriteBudgetTable(w io.Writer, services []sim.Service, shared, alone []sim.BudgetResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "service\tpriority\tpreemptible\tSLO alone\tSLO shared\tviolation s alone\tviolation s shared\tGPU-s alone\tGPU-s shared\tpeak alone\tpeak shared\ttrimmed s\tpreemptions")
	for i, s := range services {
		a, b := alone[i], shared[i]
		spec := s.Scenario.Policy.Defaulted()
		fmt.Fprintf(tw, "%s\t%d\t%v\t%.1f%%\t%.1f%%\t%d\t%d\t%.0f\t%.0f\t%d\t%d\t%d\t%d\n", s.Name, *spec.Priority, spec.Preemptible,
			100*a.Result.SLOAttainment(), 100*b.Result.SLOAttainment(), a.Result.ViolationSeconds, b.Result.ViolationSeconds,
			a.Result.ReplicaSeconds, b.Result.ReplicaSeconds, a.PeakGranted, b.PeakGranted, b.TrimmedSeconds, b.Preemptions)
	}
	return tw.Flush()
}
