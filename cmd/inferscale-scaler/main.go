// Command inferscale-scaler receives the agents' reports, decides replica counts for every
// AutoscalingPolicy and writes them to the targets' /scale; see scaler/README.md.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inferscale/inferscale/internal/logging"
	"github.com/inferscale/inferscale/internal/version"
	"github.com/inferscale/inferscale/scaler/app"
)

func main() {
	opts := app.DefaultOptions()
	opts.BindFlags(flag.CommandLine)
	logOpts := logging.Defaults()
	logOpts.BindFlags(flag.CommandLine)
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("inferscale-scaler", version.String())
		return
	}
	root, flush, err := logOpts.New(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-scaler:", err)
		os.Exit(2)
	}
	defer flush()
	ctrl.SetLogger(root)
	klog.SetLogger(root.WithName("client-go"))
	log := ctrl.Log.WithName("setup")
	log.Info("inferscale-scaler", "version", version.String())

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Loading the kubeconfig failed")
		flush()
		os.Exit(1)
	}
	if err := app.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		log.Error(err, "Scaler stopped")
		flush()
		os.Exit(1)
	}
}
