// Command inferscale-agent is the sidecar that fronts a model server; see agent/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/inferscale/inferscale/agent"
	"github.com/inferscale/inferscale/internal/version"
)

func main() {
	// --version is not a setting of the agent's configuration: it prints and exits.
	if slices.Contains(os.Args[1:], "--version") || slices.Contains(os.Args[1:], "-version") {
		fmt.Println("inferscale-agent", version.String())
		return
	}
	cfg, err := agent.LoadConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-agent:", err)
		os.Exit(2)
	}
	log, flush, err := cfg.Log.New(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-agent:", err)
		os.Exit(2)
	}
	log.Info("Starting", "version", version.String())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := agent.New(cfg, log, agent.Options{})
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		log.Error(err, "Agent stopped")
		flush()
		os.Exit(1)
	}
	flush()
}
