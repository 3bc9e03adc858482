// Package model simulates one LLM model server with continuous batching: a FIFO waiting
// queue, batch slots, a KV cache that bounds the batch, prefill time that grows with the
// prompt and decode steps that slow down as the batch grows. Per request it yields time to
// first token, time per output token and end-to-end latency.
package model

import (
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Config describes a model server and what the cluster needs to know about its pods.
type Config struct {
	// Name of the preset or file.
	Name string `json:"name"`
	// Slots is how many requests run at once (vLLM's max_num_seqs).
	Slots int `json:"slots"`
	// KVCacheTokens is the KV cache's capacity in tokens; a request reserves its prompt plus
	// output tokens when admitted. 0: unlimited.
	KVCacheTokens int64 `json:"kvCacheTokens"`
	// PrefillBase and PrefillPerToken give one request's prefill time: base + tokens × per-token.
	PrefillBase     metav1.Duration `json:"prefillBase"`
	PrefillPerToken metav1.Duration `json:"prefillPerToken"`
	// DecodeBase and DecodePerSeq give one decode step (one token for every running request):
	// base + per-seq × running requests.
	DecodeBase   metav1.Duration `json:"decodeBase"`
	DecodePerSeq metav1.Duration `json:"decodePerSeq"`
	// StartDelay is the time from pod creation to Ready: scheduling, image pull, model load.
	StartDelay metav1.Duration `json:"startDelay"`
	// PromptTokens and OutputTokens size the requests of synthetic profiles.
	PromptTokens int32 `json:"promptTokens"`
	OutputTokens int32 `json:"outputTokens"`
	// CPURequest is the pod's cpu request in millicores; CPUIdle, CPUBusy and CPUPerRequest
	// model its usage: idle + busy × the fraction of time a request is admitted + per-request
	// millicore-seconds × requests per second.
	CPURequest    int64   `json:"cpuRequest"`
	CPUIdle       int64   `json:"cpuIdle"`
	CPUBusy       int64   `json:"cpuBusy"`
	CPUPerRequest float64 `json:"cpuPerRequest"`
}

func d(v time.Duration) metav1.Duration { return metav1.Duration{Duration: v} }

// Presets by name.
var Presets = map[string]Config{
	// The e2e model server (e2e/images/modelserver as `make demo` runs it): 4 slots, no
	// prefill, no slowdown with concurrency. It is told 50 ms per request; measured, a request
	// holds its slot 52 ms: 3 replicas saturated through the Service of the local cluster
	// served 229.5 requests/s (12 slots ÷ 229.5/s = 52.3 ms), and one replica outside it 77.6/s
	// (51.5 ms). The first of its 8 tokens comes with the zero-length prefill and the other 7
	// take one decode step each. Its pods become Ready 2 to 7 s after the scaler asks for them
	// on the 2-core local cluster under the demo's load (22 scale-ups in four `make demo` runs);
	// 4 s is the middle. See sim/README.md. CPU: a 50m request as the demo sets it; the
	// agent's proxy spends about half a millisecond of cpu per request.
	"e2e": {
		Name: "e2e", Slots: 4, DecodeBase: d(e2eSlotTime / 7),
		StartDelay: d(4 * time.Second), PromptTokens: 0, OutputTokens: 8,
		CPURequest: 50, CPUIdle: 2, CPUBusy: 5, CPUPerRequest: 0.5,
	},
	// Llama-3.1-8B in BF16 on one H100 80GB under vLLM (see sim/README.md for the published
	// figures): decode 6 ms per step plus 0.3 ms per running request, prefill 8 ms plus 35 µs
	// per prompt token, 256 sequences, 400k tokens of KV cache; 60 s to schedule, pull and
	// load. CPU: vLLM's engine loop keeps about one core busy while it serves.
	"llama-8b-h100": {
		Name: "llama-8b-h100", Slots: 256, KVCacheTokens: 400_000,
		PrefillBase: d(8 * time.Millisecond), PrefillPerToken: d(35 * time.Microsecond),
		DecodeBase: d(6 * time.Millisecond), DecodePerSeq: d(300 * time.Microsecond),
		StartDelay: d(60 * time.Second), PromptTokens: 1024, OutputTokens: 128,
		CPURequest: 4000, CPUIdle: 300, CPUBusy: 1000, CPUPerRequest: 5,
	},
}

// e2eSlotTime is how long a request holds a slot of the e2e model server, measured (see the
// e2e preset).
const e2eSlotTime = 52 * time.Millisecond

// DefaultPreset is the GPU preset, used when no model is named.
const DefaultPreset = "llama-8b-h100"

// Load returns the preset named by nameOrFile, or reads a Config from the YAML or JSON file
// of that path (fields left out keep the GPU preset's values).
func Load(nameOrFile string) (Config, error) {
	if nameOrFile == "" {
		nameOrFile = DefaultPreset
	}
	if c, ok := Presets[nameOrFile]; ok {
		return c, nil
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		return Config{}, fmt.Errorf("model %q is neither a preset (%s) nor a readable file: %w", nameOrFile, presetNames(), err)
	}
	c := Presets[DefaultPreset]
	c.Name = nameOrFile
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("model file %s: %w", nameOrFile, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model file %s: %w", nameOrFile, err)
	}
	return c, nil
}

func presetNames() string {
	return "e2e, llama-8b-h100"
}

// Validate checks the bounds of every field and names the first that is out of them.
func (c *Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%s: %v: %s", field, v, want)
	}
	switch {
	case c.Slots < 1 || c.Slots > 1<<16:
		return bad("slots", c.Slots, "want 1 to 65536")
	case c.KVCacheTokens < 0 || c.KVCacheTokens > 1<<40:
		return bad("kvCacheTokens", c.KVCacheTokens, "want 0 (unlimited) or a positive token count")
	case c.PrefillBase.Duration < 0 || c.PrefillBase.Duration > time.Hour:
		return bad("prefillBase", c.PrefillBase.Duration, "want 0 to 1h")
	case c.PrefillPerToken.Duration < 0 || c.PrefillPerToken.Duration > time.Second:
		return bad("prefillPerToken", c.PrefillPerToken.Duration, "want 0 to 1s")
	case c.DecodeBase.Duration <= 0 || c.DecodeBase.Duration > time.Minute:
		return bad("decodeBase", c.DecodeBase.Duration, "want more than 0, at most 1m")
	case c.DecodePerSeq.Duration < 0 || c.DecodePerSeq.Duration > time.Second:
		return bad("decodePerSeq", c.DecodePerSeq.Duration, "want 0 to 1s")
	case c.StartDelay.Duration < 0 || c.StartDelay.Duration > time.Hour:
		return bad("startDelay", c.StartDelay.Duration, "want 0 to 1h")
	case c.PromptTokens < 0 || c.PromptTokens > 1<<20:
		return bad("promptTokens", c.PromptTokens, "want 0 to 1048576")
	case c.OutputTokens < 1 || c.OutputTokens > 1<<20:
		return bad("outputTokens", c.OutputTokens, "want 1 to 1048576")
	case c.CPURequest < 1 || c.CPUIdle < 0 || c.CPUBusy < 0 || !(c.CPUPerRequest >= 0 && c.CPUPerRequest < 1e6):
		return bad("cpuRequest, cpuIdle, cpuBusy, cpuPerRequest", fmt.Sprint(c.CPURequest, c.CPUIdle, c.CPUBusy, c.CPUPerRequest), "want a positive request and usages of at least 0")
	}
	if strings.TrimSpace(c.Name) == "" {
		c.Name = "custom"
	}
	return nil
}
