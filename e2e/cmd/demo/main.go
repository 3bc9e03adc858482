// Command demo is `make demo`: it brings up the local cluster of the e2e
// harness (or uses INFERSCALE_E2E_KUBECONFIG's), installs inferscale from
// manifests/default, autoscales an LLM-like model server through a load
// profile, writes a chart and a summary, and tears the cluster down.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/e2e/cluster"
	"github.com/inferscale/inferscale/e2e/demo"
	"github.com/inferscale/inferscale/e2e/images"
	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/sim/scenario"
)

func main() {
	keep := flag.Bool("keep", false, "keep the cluster running after the demo and print how to reach it")
	out := flag.String("out", "_output/demo", "directory for the chart and the summary")
	profile := flag.String("profile", scenario.DemoProfile, "load profile: DURATION@RPS steps (idle, step up, spike, down)")
	settle := flag.Duration("settle", scenario.DemoSettle, "how long to watch after the load ends, for the scale-down")
	target := flag.Duration("target-p99", 300*time.Millisecond, "the policy's p99 latency target")
	flag.Parse()
	// controller-runtime's client logs through this logger; unset, it prints a warning with a
	// stack trace in the middle of the demo's output. Only its errors are worth a line here.
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	if err := run(*keep, *out, *profile, *settle, *target); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(keep bool, outDir, profile string, settle, target time.Duration) (err error) {
	ctx := context.Background()
	start := time.Now()
	step("bringing up the cluster (the first run builds Kubernetes: ~15 min)")
	c, err := cluster.Up(ctx, cluster.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.DumpLogs(os.Stderr, 40)
		}
		if keep && err == nil {
			fmt.Printf("\ncluster kept: export KUBECONFIG=%s; kubectl is %s\n", c.Kubeconfig, filepath.Join(c.BinDir, "kubectl"))
			fmt.Println("press Ctrl-C to tear it down")
			waitForInterrupt()
		}
		step("tearing the cluster down")
		err = errors.Join(err, c.Down(context.Background()))
	}()

	step("building inferscale's images and installing manifests/default")
	if err := install.Install(ctx, c, "default"); err != nil {
		return err
	}
	root, err := cluster.RepoRoot(ctx)
	if err != nil {
		return err
	}
	built, err := c.BuildImages(ctx,
		images.Spec{Name: "modelserver", GoPackage: "github.com/inferscale/inferscale/e2e/images/modelserver", Dir: root},
		images.Spec{Name: "loadgen", GoPackage: "github.com/inferscale/inferscale/e2e/loadgen", Dir: root},
	)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}

	step("deploying the model server and its policy; driving " + profile)
	res, err := demo.Run(ctx, demo.Options{
		Kubeconfig:   c.Kubeconfig,
		Kubectl:      filepath.Join(c.BinDir, "kubectl"),
		Namespace:    "inferscale-demo",
		ModelImage:   built[0].Ref,
		LoadgenImage: built[1].Ref,
		Profile:      profile,
		TargetP99:    target,
		Settle:       settle,
		PrintEvery:   5 * time.Second,
		Progress:     os.Stdout,
	}, c.Client, cl)
	if res != nil && len(res.Samples) > 0 {
		if werr := writeResults(outDir, res, target); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		return err
	}
	sum := demo.Summarize(res.Samples, float64(target.Milliseconds()))
	fmt.Println()
	if err := sum.Write(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("chart: %s   (demo took %s)\n", filepath.Join(outDir, "demo.svg"), time.Since(start).Round(time.Second))
	if !sum.ScaledUpUnder || !sum.ScaledBackDown {
		return fmt.Errorf("the model did not scale up under load and back down after (peak %d, final %d replicas)", sum.PeakReady, sum.FinalReady)
	}
	return nil
}

func writeResults(dir string, res *demo.Result, target time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "demo.svg"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := demo.WriteChart(f, res.Samples, float64(target.Milliseconds())); err != nil {
		return err
	}
	sf, err := os.Create(filepath.Join(dir, "summary.txt"))
	if err != nil {
		return err
	}
	defer sf.Close()
	if err := demo.Summarize(res.Samples, float64(target.Milliseconds())).Write(sf); err != nil {
		return err
	}
	samples, err := json.MarshalIndent(res.Samples, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "samples.json"), samples, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(res.Manifest), 0o644)
}

// waitForInterrupt blocks until SIGINT or SIGTERM; the harness tears the
// cluster down on either.
func waitForInterrupt() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }
