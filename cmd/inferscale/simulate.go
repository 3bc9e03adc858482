package main

import (
	"io"

	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/cli"
)

// simulate runs `inferscale simulate` with the autoscalers this binary links: inferscale,
// hpa-cpu and keda. Knative's KPA is Knative's own code in a module of its own (sim/knative),
// whose binary runs the same command with kpa added.
func simulate(args []string, stdout, stderr io.Writer) int {
	return cli.Run(args, stdout, stderr, sim.Builtin(), "hpa-cpu,keda")
}
