// Command inferscale is the command-line companion of inferscale: it prints
// the build version, validates AutoscalingPolicy files offline with the same
// rules the admission webhook applies, converts other autoscalers' objects
// into AutoscalingPolicies, and simulates autoscalers on replayed traffic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"

	"github.com/inferscale/inferscale/internal/logging"
	"github.com/inferscale/inferscale/internal/version"
)

const usage = `usage: inferscale [--log-level L] [--log-format F] COMMAND ...
  inferscale version              print the build version (also: inferscale --version)
  inferscale validate FILE...     validate AutoscalingPolicy YAML or JSON files ("-" reads stdin)
  inferscale convert [FILE...]    convert HorizontalPodAutoscalers, KEDA ScaledObjects, SeldonDeployments'
                                  hpaSpecs, KubeAI and MatrixInfer policies to AutoscalingPolicies on
                                  stdout (no FILE or "-" reads stdin); what changed is on stderr
  inferscale status [-n NAMESPACE] [--context C] [--kubeconfig F] POLICY
                                  print a policy's state, conditions and recent decisions with their reasons
  inferscale simulate [flags]     replay a trace or load profile through inferscale and baselines
                                  on a simulated LLM server ("inferscale simulate -h" for flags)

--log-level (error, info, debug, 0..10; default error) and --log-format (console, json) set the
logging of what the commands call (client-go's warnings and retries), on stderr.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	global := flag.NewFlagSet("inferscale", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	logOpts := logging.Options{Level: "error", Format: logging.FormatConsole}
	logOpts.BindFlags(global)
	showVersion := global.Bool("version", false, "print the build version")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = global.Args()
	if *showVersion {
		args = []string{"version"}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log, flush, err := logOpts.New(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "inferscale:", err)
		return 2
	}
	defer flush()
	klog.SetLogger(log.WithName("client-go"))
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "inferscale", version.String())
		return 0
	case "validate":
		fs := flag.NewFlagSet("validate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return validateFiles(fs.Args(), stdin, stdout, stderr)
	case "convert":
		fs := flag.NewFlagSet("convert", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		files := fs.Args()
		if len(files) == 0 {
			files = []string{"-"}
		}
		return convertFiles(files, stdin, stdout, stderr)
	case "simulate":
		return simulate(args[1:], stdout, stderr)
	case "status":
		return statusCommand(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
}
