// Command inferscale-agent is the sidecar that fronts a model server; see agent/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"

	"github.com/inferscale/inferscale/agent"
)

func main() {
	cfg, err := agent.LoadConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-agent:", err)
		os.Exit(2)
	}
	zl, err := zap.NewProduction()
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-agent: logger:", err)
		os.Exit(1)
	}
	log := zapr.NewLogger(zl)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := agent.New(cfg, log, agent.Options{})
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		log.Error(err, "agent stopped")
		_ = zl.Sync()
		os.Exit(1)
	}
	_ = zl.Sync()
}
