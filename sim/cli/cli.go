// Package cli is `inferscale simulate`: flags in, a table, JSON or an HTML report out. The
// inferscale binary and the Knative baseline's binary (sim/knative) share it; each passes
// the autoscalers it links.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/inferscale/inferscale/internal/loadprofile"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/report"
	"github.com/inferscale/inferscale/sim/scenario"
	"github.com/inferscale/inferscale/sim/workload"
)

// Usage is the simulate command's synopsis.
const Usage = `usage: inferscale simulate (--trace FILE | --profile STEPS) [flags]

Replays traffic through inferscale's own window and decision code and, side by side, through
baseline autoscalers and an oracle, on a simulated LLM server; prints SLO attainment,
violation-seconds, replica-seconds, scale events and latency percentiles per autoscaler.

STEPS is the demo's DURATION@RPS list ("20s@2,40s@60,30s@200"), diurnal:PERIOD,LOW,HIGH,DURATION
("diurnal:30m,1,25,1h") or onoff:ON,OFF,RPS,DURATION ("onoff:3m,5m,20,40m").

flags:
`

// Options are what the flags hold.
type options struct {
	trace, profile, policy, modelName, compare, out, format, arrivals, balancer string
	startDelay, settle, reportDelay                                             time.Duration
	rateScale, timeScale                                                        float64
	seed                                                                        uint64
	prompt, output                                                              int
	progress                                                                    string
}

// Run parses args (after "simulate") and runs the comparison with the autoscalers of
// factories; defaultCompare is --compare's default. It returns the exit code.
func Run(args []string, stdout, stderr io.Writer, factories []sim.Factory, defaultCompare string) int {
	var o options
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage); fs.PrintDefaults() }
	fs.StringVar(&o.trace, "trace", "", "CSV trace in the Azure LLM inference schema (TIMESTAMP,ContextTokens,GeneratedTokens)")
	fs.StringVar(&o.profile, "profile", "", "synthetic load: DURATION@RPS steps, diurnal:... or onoff:... (see above)")
	fs.StringVar(&o.arrivals, "arrivals", "poisson", "arrival process of --profile: poisson, uniform or gamma:CV")
	fs.IntVar(&o.prompt, "prompt-tokens", -1, "prompt tokens per --profile request (default: the model's)")
	fs.IntVar(&o.output, "output-tokens", -1, "output tokens per --profile request (default: the model's)")
	fs.StringVar(&o.policy, "policy", "", "AutoscalingPolicy YAML for inferscale (default: the built-in policy of the model preset)")
	fs.StringVar(&o.modelName, "model", model.DefaultPreset, "model preset (e2e, llama-8b-h100) or a YAML/JSON model file")
	fs.DurationVar(&o.startDelay, "start-delay", -1, "pod start delay: scheduling, image pull, model load (default: the model's; 60s GPU, 2s e2e)")
	fs.Float64Var(&o.rateScale, "rate-scale", 1, "multiply the trace's request rate")
	fs.Float64Var(&o.timeScale, "time-scale", 1, "compress the trace's time axis by this factor")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every random choice")
	fs.StringVar(&o.compare, "compare", defaultCompare, "baselines to run beside inferscale, comma-separated; the oracle always runs")
	fs.StringVar(&o.out, "out", "", "directory for report.html (SVG charts) and samples.csv")
	fs.StringVar(&o.format, "format", "table", "table or json")
	fs.StringVar(&o.balancer, "balancer", "random", "load balancer: random (kube-proxy) or least-request")
	fs.DurationVar(&o.settle, "settle", 5*time.Minute, "how long to go on after the last arrival")
	fs.DurationVar(&o.reportDelay, "report-delay", 0, "delay of an agent report on its way to the scaler")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
	budgetScenario := fs.String("budget-scenario", "", "run a built-in scenario of several services sharing an AutoscalingBudget instead: two-services")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simulate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	runIt := func() error { return run(&o, stdout, stderr, factories) }
	if *budgetScenario != "" {
		runIt = func() error { return runBudgetScenario(*budgetScenario, o.seed, stdout) }
	}
	if err := runIt(); err != nil {
		fmt.Fprintln(stderr, "simulate:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func run(o *options, stdout, stderr io.Writer, factories []sim.Factory) error {
	if o.format != "table" && o.format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", o.format)}
	}
	m, err := model.Load(o.modelName)
	if err != nil {
		return usageError{err}
	}
	if o.startDelay >= 0 {
		m.StartDelay.Duration = o.startDelay
	}
	if o.prompt >= 0 {
		m.PromptTokens = int32(min(o.prompt, workload.MaxTokens+1))
	}
	if o.output >= 0 {
		m.OutputTokens = int32(min(o.output, workload.MaxTokens+1))
	}
	if err := m.Validate(); err != nil {
		return usageError{fmt.Errorf("model: %w", err)}
	}
	reqs, err := requests(o, &m)
	if err != nil {
		return err
	}
	policy, err := scenario.DefaultPolicy(&m)
	if o.policy != "" {
		policy, err = scenario.LoadPolicy(o.policy)
	}
	if err != nil {
		return err
	}
	picked, err := sim.Pick(factories, o.compare)
	if err != nil {
		return usageError{err}
	}
	if o.settle < 0 || o.settle > 24*time.Hour {
		return usageError{fmt.Errorf("--settle %s: want 0 to 24h", o.settle)}
	}
	sc := &sim.Scenario{
		Name: describe(o), Requests: reqs, Model: m, Policy: policy,
		Duration: workload.Span(reqs) + o.settle, ReportDelay: o.reportDelay,
		Balancer: sim.Balancer(o.balancer), Seed: o.seed,
	}
	if showProgress(o.progress, stderr) {
		sc.Progress = progressBar(stderr)
	}
	results, err := sim.Compare(sc, picked)
	if sc.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	sums := report.Summarize(results)
	if o.out != "" {
		if err := report.WriteDir(o.out, sc, results, sums); err != nil {
			return err
		}
	}
	if o.format == "json" {
		return report.WriteJSON(stdout, sums)
	}
	fmt.Fprintf(stdout, "%s; model %s, pod start %s; %d requests over %s; SLO %s\n\n",
		sc.Name, m.Name, m.StartDelay.Duration, len(reqs), workload.Span(reqs).Round(time.Second), sloText(sc))
	if err := report.WriteTable(stdout, sums); err != nil {
		return err
	}
	if o.out != "" {
		fmt.Fprintf(stdout, "\nreport: %s\n", o.out+"/report.html")
	}
	return nil
}

func sloText(sc *sim.Scenario) string {
	var parts []string
	for _, t := range sim.SLOOf(sc.Policy) {
		parts = append(parts, t.String())
	}
	return strings.Join(parts, ", ")
}

func describe(o *options) string {
	if o.trace != "" {
		s := "trace " + o.trace
		if o.rateScale != 1 || o.timeScale != 1 {
			s += fmt.Sprintf(" (rate ×%g, time ÷%g)", o.rateScale, o.timeScale)
		}
		return s
	}
	return "profile " + o.profile + " (" + o.arrivals + ")"
}

// requests builds the workload of the flags.
func requests(o *options, m *model.Config) ([]workload.Request, error) {
	switch {
	case (o.trace == "") == (o.profile == ""):
		return nil, usageError{errors.New("give exactly one of --trace FILE and --profile STEPS")}
	case o.trace != "":
		f, err := os.Open(o.trace)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		reqs, err := workload.ReadTrace(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.trace, err)
		}
		return workload.Scale(reqs, o.rateScale, o.timeScale, o.seed)
	}
	if o.rateScale != 1 || o.timeScale != 1 {
		return nil, usageError{errors.New("--rate-scale and --time-scale apply to --trace; write the rates into --profile")}
	}
	arr, err := workload.ParseArrivals(o.arrivals)
	if err != nil {
		return nil, usageError{err}
	}
	segs, err := Segments(o.profile)
	if err != nil {
		return nil, usageError{err}
	}
	return workload.Synthetic(segs, arr, m.PromptTokens, m.OutputTokens, o.seed)
}

// Segments parses a --profile: DURATION@RPS steps, diurnal:PERIOD,LOW,HIGH,DURATION or
// onoff:ON,OFF,RPS,DURATION.
func Segments(s string) ([]workload.Segment, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || (kind != "diurnal" && kind != "onoff") {
		p, err := loadprofile.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--profile: %w", err)
		}
		return workload.Steps(p), nil
	}
	f := strings.Split(rest, ",")
	if len(f) != 4 {
		return nil, fmt.Errorf("--profile %q: %s wants 4 comma-separated values", s, kind)
	}
	var d [4]time.Duration
	var x [4]float64
	for i, v := range f {
		v = strings.TrimSpace(v)
		if dd, err := time.ParseDuration(v); err == nil {
			d[i] = dd
			continue
		}
		if _, err := fmt.Sscanf(v, "%g", &x[i]); err != nil {
			return nil, fmt.Errorf("--profile %q: value %d %q is neither a duration nor a number", s, i+1, v)
		}
	}
	if kind == "diurnal" {
		return workload.Diurnal(d[0], x[1], x[2], d[3])
	}
	return workload.OnOff(d[0], d[1], x[2], d[3])
}

func showProgress(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressBar(w io.Writer) func(string, float64) {
	return func(name string, done float64) {
		n := int(done * 30)
		fmt.Fprintf(w, "\r%-12s [%s%s] %3.0f%%", name, strings.Repeat("#", n), strings.Repeat(" ", 30-n), 100*done)
	}
}
