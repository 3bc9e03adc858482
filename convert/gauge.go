package convert

import "strings"

// modelServerPrefixes name the metrics of model servers the agent can scrape
// from the pod itself: vLLM, SGLang, Hugging Face TGI and NVIDIA Triton.
var modelServerPrefixes = []string{"vllm:", "sglang:", "tgi_", "nv_inference_"}

// modelGauge returns the model-server gauge a metric name refers to. It accepts
// Google Managed Prometheus's "prometheus.googleapis.com|NAME|gauge" form, and
// refuses counters and histogram series, which are no per-pod gauge.
func modelGauge(name string) (string, bool) {
	if parts := strings.Split(name, "|"); len(parts) == 3 && parts[0] == "prometheus.googleapis.com" {
		if parts[2] != "gauge" {
			return "", false
		}
		name = parts[1]
	}
	for _, suffix := range []string{"_total", "_bucket", "_count", "_sum", "_created"} {
		if strings.HasSuffix(name, suffix) {
			return "", false
		}
	}
	for _, p := range modelServerPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return name, true
		}
	}
	return "", false
}

// modelMetricAction is the note that makes the agents scrape a gauge.
func modelMetricAction(name string) string {
	return `the agents scrape the gauge only when asked: give the target's pod template the annotations inferscale.io/inject: "true" and inferscale.io/model-metrics: "` + name + `"`
}
