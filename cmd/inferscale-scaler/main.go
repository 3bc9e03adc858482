// Command inferscale-scaler receives the agents' reports, decides replica counts for every
// AutoscalingPolicy and writes them to the targets' /scale; see scaler/README.md.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inferscale/inferscale/internal/version"
	"github.com/inferscale/inferscale/scaler/app"
)

func main() {
	opts := app.DefaultOptions()
	opts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("inferscale-scaler", version.String())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	log.Info("inferscale-scaler", "version", version.String())

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Loading the kubeconfig failed")
		os.Exit(1)
	}
	if err := app.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		log.Error(err, "Scaler stopped")
		os.Exit(1)
	}
}
