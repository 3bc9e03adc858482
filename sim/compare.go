package sim

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// Scenario is one workload on one model under one policy, to be run by several autoscalers.
type Scenario struct {
	Name     string
	Requests []workload.Request
	Model    model.Config
	// Policy is inferscale's; its bounds and latency targets apply to every autoscaler.
	Policy *v1alpha1.AutoscalingPolicySpec
	// SLO overrides the policy's latency targets when set.
	SLO         []Target
	Duration    time.Duration
	ReportDelay time.Duration
	Balancer    Balancer
	Seed        uint64
	Progress    func(autoscaler string, done float64)
}

// Factory makes one autoscaler for a scenario. An autoscaler that is an io.Closer is closed
// after its run.
type Factory struct {
	Name string
	New  func(sc *Scenario) (Autoscaler, error)
}

// Builtin are the autoscalers of this module: inferscale, the two HPA baselines and the
// oracle. The Knative baseline lives in its own module (sim/knative) and adds itself.
func Builtin() []Factory {
	return []Factory{
		{Name: "inferscale", New: func(sc *Scenario) (Autoscaler, error) { return NewInferscale(sc.Policy), nil }},
		{Name: "hpa-cpu", New: func(sc *Scenario) (Autoscaler, error) {
			lo, hi := bounds(sc.Policy)
			return NewHPACPU(lo, hi), nil
		}},
		{Name: "keda", New: func(sc *Scenario) (Autoscaler, error) {
			lo, hi := bounds(sc.Policy)
			return NewKEDA(lo, hi), nil
		}},
	}
}

func bounds(spec *v1alpha1.AutoscalingPolicySpec) (int32, int32) {
	lo := int32(1)
	if spec.MinReplicas != nil {
		lo = *spec.MinReplicas
	}
	return lo, spec.MaxReplicas
}

// SLOOf is the policy's latency targets.
func SLOOf(spec *v1alpha1.AutoscalingPolicySpec) []Target {
	var out []Target
	for _, m := range spec.Metrics {
		if m.Latency != nil {
			out = append(out, Target{Percentile: m.Latency.Percentile, Latency: m.Latency.Target.Duration,
				TimeToFirstToken: m.Latency.TimeToFirstByte, TimePerOutputToken: m.Latency.TimePerOutputToken})
		}
	}
	return out
}

// Pick returns the factories named in names (comma-separated), inferscale always first and
// the oracle always last; unknown names are an error listing the known ones.
func Pick(all []Factory, names string) ([]Factory, error) {
	byName := map[string]Factory{}
	var known []string
	for _, f := range all {
		byName[f.Name] = f
		known = append(known, f.Name)
	}
	out := []Factory{byName["inferscale"]}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" || n == "inferscale" || n == "oracle" {
			continue
		}
		f, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("--compare: unknown autoscaler %q (known: %s)", n, strings.Join(known[1:], ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// Compare runs the scenario under every factory's autoscaler and then the oracle, each on the
// same requests and seed and from the same initial replicas, one after the other.
func Compare(sc *Scenario, factories []Factory) ([]*Result, error) {
	cfg, oracle, err := runConfig(sc)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, f := range factories {
		as, err := f.New(sc)
		if err != nil {
			return out, fmt.Errorf("%s: %w", f.Name, err)
		}
		c := cfg
		if sc.Progress != nil {
			c.Progress = func(done float64) { sc.Progress(f.Name, done) }
		}
		res, err := Run(c, as)
		if cl, ok := as.(io.Closer); ok {
			err = errors.Join(err, cl.Close())
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", f.Name, err)
		}
		out = append(out, res)
	}
	c := cfg
	c.Model.StartDelay.Duration = 0
	res, err := Run(c, oracle)
	if err != nil {
		return out, fmt.Errorf("oracle: %w", err)
	}
	return append(out, res), nil
}

// runConfig is the run configuration of a scenario and its oracle. Every run starts with the
// replicas the oracle gives the first seconds, so no autoscaler is judged on a cold start it
// could not have avoided.
func runConfig(sc *Scenario) (Config, *Oracle, error) {
	if sc.Policy == nil {
		return Config{}, nil, errors.New("scenario has no policy")
	}
	slo := sc.SLO
	if len(slo) == 0 {
		slo = SLOOf(sc.Policy)
	}
	if len(slo) == 0 {
		return Config{}, nil, errors.New("the policy has no Latency metric to judge the SLO by: give an SLO target")
	}
	capacity, err := Capacity(sc.Model, sc.Requests, slo, sc.Seed)
	if err != nil {
		return Config{}, nil, fmt.Errorf("oracle: %w", err)
	}
	lo, hi := bounds(sc.Policy)
	oracle := NewOracle(sc.Requests, capacity, lo, hi)
	return Config{
		Requests: sc.Requests, Model: sc.Model, Duration: sc.Duration, ReportDelay: sc.ReportDelay,
		Balancer: sc.Balancer, Seed: sc.Seed, SLO: slo, InitialReplicas: oracle.Decide(Epoch, nil),
	}, oracle, nil
}
