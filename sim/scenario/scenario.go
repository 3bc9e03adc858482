// Package scenario holds the simulator's built-in policies and the headline scenarios that
// `make bench-sim` runs: step, spike, diurnal, on/off bursts and the Azure code trace, each
// with a 60 s and a 2 s pod start delay.
package scenario

import (
	_ "embed"
	"fmt"
	"os"
	"time"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/internal/policyfile"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

var (
	//go:embed default-gpu.yaml
	defaultGPUPolicy []byte
	//go:embed demo.yaml
	demoPolicy []byte
)

// DefaultPolicy is inferscale's policy when none is given: demo.yaml for the e2e preset,
// default-gpu.yaml otherwise.
func DefaultPolicy(m *model.Config) (*v1alpha1.AutoscalingPolicySpec, error) {
	data := defaultGPUPolicy
	if m.Name == "e2e" {
		data = demoPolicy
	}
	p, err := policyfile.One(data)
	if err != nil {
		return nil, fmt.Errorf("built-in policy: %w", err)
	}
	return &p.Spec, nil
}

// LoadPolicy reads the user's policy file with `inferscale validate`'s rules.
func LoadPolicy(path string) (*v1alpha1.AutoscalingPolicySpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := policyfile.One(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return &p.Spec, nil
}

// DemoProfile and DemoSettle are `make demo`'s load profile and the time it watches after
// the load (e2e/cmd/demo's defaults).
const (
	DemoProfile = "20s@2,40s@60,30s@200,30s@40,10s@0"
	DemoSettle  = 100 * time.Second
)

// Headline is one scenario of the headline table, before its start delay is set.
type Headline struct {
	Name     string
	Requests func(seed uint64) ([]workload.Request, error)
}

// TracePath is where the Azure code trace lives relative to the repository root.
const TracePath = "sim/testdata/azure-llm-inference-2023-code.csv"

// TraceRateScale is how much the headline multiplies the Azure code trace's rate so that it
// needs several replicas of the GPU preset.
const TraceRateScale = 10

// Headlines are the headline scenarios on the GPU preset, each scaled by length (1 = as in
// the table; tests pass a fraction for short runs). tracePath is the Azure code trace.
func Headlines(tracePath string, length float64) []Headline {
	m := model.Presets[model.DefaultPreset]
	p, o := m.PromptTokens, m.OutputTokens
	dur := func(d time.Duration) time.Duration {
		return max(time.Duration(float64(d)*length).Round(time.Second), 10*time.Second)
	}
	synth := func(segs func() ([]workload.Segment, error)) func(uint64) ([]workload.Request, error) {
		return func(seed uint64) ([]workload.Request, error) {
			s, err := segs()
			if err != nil {
				return nil, err
			}
			return workload.Synthetic(s, workload.Arrivals{Kind: "poisson"}, p, o, seed)
		}
	}
	return []Headline{
		{"step", synth(func() ([]workload.Segment, error) {
			return []workload.Segment{{For: dur(5 * time.Minute), RPS: 2}, {For: dur(15 * time.Minute), RPS: 20}, {For: dur(10 * time.Minute), RPS: 2}}, nil
		})},
		{"spike", synth(func() ([]workload.Segment, error) {
			return []workload.Segment{{For: dur(5 * time.Minute), RPS: 5}, {For: dur(2 * time.Minute), RPS: 40}, {For: dur(13 * time.Minute), RPS: 5}}, nil
		})},
		{"diurnal", synth(func() ([]workload.Segment, error) {
			return workload.Diurnal(dur(30*time.Minute), 1, 25, dur(60*time.Minute))
		})},
		{"on/off", synth(func() ([]workload.Segment, error) {
			return workload.OnOff(dur(3*time.Minute), dur(5*time.Minute), 20, dur(40*time.Minute))
		})},
		{"azure-code×10", func(seed uint64) ([]workload.Request, error) {
			f, err := os.Open(tracePath)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			reqs, err := workload.ReadTrace(f)
			if err != nil {
				return nil, err
			}
			if length < 1 {
				cut := time.Duration(float64(workload.Span(reqs)) * length)
				for i, r := range reqs {
					if r.At > cut {
						reqs = reqs[:i]
						break
					}
				}
			}
			return workload.Scale(reqs, TraceRateScale, 1, seed)
		}},
	}
}

// StartDelays are the headline's pod start delays: a GPU pod that pulls and loads a model,
// and one whose image and weights are cached on the node.
var StartDelays = []time.Duration{60 * time.Second, 2 * time.Second}

// Settle is how long a headline run goes on after the last arrival, for the scale-down.
const Settle = 5 * time.Minute

// HeadlineScenario builds headline h at start delay d.
func HeadlineScenario(h Headline, d time.Duration, seed uint64) (*sim.Scenario, error) {
	reqs, err := h.Requests(seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	m := model.Presets[model.DefaultPreset]
	m.StartDelay.Duration = d
	policy, err := DefaultPolicy(&m)
	if err != nil {
		return nil, err
	}
	return &sim.Scenario{
		Name: fmt.Sprintf("%s, start %s", h.Name, d), Requests: reqs, Model: m,
		Policy: policy, Duration: workload.Span(reqs) + Settle, Seed: seed,
	}, nil
}
