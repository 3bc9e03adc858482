// Command inferscale-sim is `inferscale simulate` with Knative's KPA linked in, and the
// headline table of `make bench-sim`:
//
//	inferscale-sim simulate [flags]       as `inferscale simulate`, --compare defaulting to hpa-cpu,keda,kpa
//	inferscale-sim headline [-markdown]   the headline scenarios under every autoscaler
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/cli"
	"github.com/inferscale/inferscale/sim/knative"
	"github.com/inferscale/inferscale/sim/scenario"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func factories() []sim.Factory { return append(sim.Builtin(), knative.Factory()) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: inferscale-sim simulate [flags] | headline [-markdown] [-trace FILE] [-length X]")
		return 2
	}
	switch args[0] {
	case "simulate":
		return cli.Run(args[1:], stdout, stderr, factories(), "hpa-cpu,keda,kpa")
	case "headline":
		fs := flag.NewFlagSet("headline", flag.ContinueOnError)
		fs.SetOutput(stderr)
		md := fs.Bool("markdown", false, "print the table as Markdown after it")
		trace := fs.String("trace", filepath.Join("..", "..", scenario.TracePath), "the Azure code trace")
		length := fs.Float64("length", 1, "scale of every scenario's length (1: the table's)")
		seed := fs.Uint64("seed", 1, "seed")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		rows, err := scenario.RunHeadlines(stdout, stderr, *trace, *length, factories(), *seed)
		if err != nil {
			fmt.Fprintln(stderr, "headline:", err)
			return 1
		}
		if *md {
			fmt.Fprint(stdout, "\n"+scenario.Markdown(rows))
		}
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n", args[0])
	return 2
}
