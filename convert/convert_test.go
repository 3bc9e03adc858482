package convert

import (
	"os"
	"slices"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// TestStreamDocumentedExamples converts the documented examples of every format
// (testdata/README.md names their sources). Each object is either converted to
// exactly the spec below, skipped or refused with its reason, and every note is
// listed: a field that disappears without a note fails the test.
func TestStreamDocumentedExamples(t *testing.T) {
	type want struct {
		file, source, spec, err, skipped string
		notes                            []string
	}
	cases := []want{
		{file: "hpa-v1", source: "autoscaling/v1 HorizontalPodAutoscaler default/php-apache",
			spec:  `{"maxReplicas":10,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":50,"type":"Utilization"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"php-apache"}}`,
			notes: []string(nil)},
		{file: "hpa-v2", source: "autoscaling/v2 HorizontalPodAutoscaler php-apache",
			spec:  `{"maxReplicas":10,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":50,"type":"Utilization"}},"type":"Resource"},{"pods":{"metric":{"name":"packets-per-second"},"target":{"averageValue":"1k","type":"AverageValue"}},"type":"Pods"},{"object":{"describedObject":{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","name":"main-route"},"metric":{"name":"requests-per-second"},"target":{"type":"Value","value":"10k"}},"type":"Object"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"php-apache"}}`,
			notes: []string(nil)},
		{file: "hpa-v2", source: "autoscaling/v2 HorizontalPodAutoscaler gemma-server-hpa",
			spec:  `{"maxReplicas":5,"metrics":[{"modelMetric":{"averageValue":"4","name":"vllm:num_requests_running"},"type":"ModelMetric"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"vllm-gemma-deployment"}}`,
			notes: []string{"to do spec.metrics[0].pods.metric.name"}},
		{file: "hpa-v2", source: "autoscaling/v2 HorizontalPodAutoscaler shop/web",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":60,"type":"Pods","value":1}],"selectPolicy":"Min","stabilizationWindowSeconds":120,"tolerance":"50m"}},"maxReplicas":8,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":80,"type":"Utilization"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}}`,
			notes: []string{"changed spec.scaleTargetRef.apiVersion", "changed spec.minReplicas", "changed spec.metrics"}},
		{file: "hpa-v2", source: "autoscaling/v2 HorizontalPodAutoscaler shop/keda-hpa-worker",
			err:   "metadata.ownerReferences: owned by ScaledObject worker, whose controller manages it: convert that object instead",
			notes: []string{"changed spec.metrics"}},
		{file: "hpa-v2", source: "v1 Service shop/web",
			skipped: "not an autoscaler",
			notes:   []string(nil)},
		{file: "hpa-v2", source: "autoscaling/v2beta1 HorizontalPodAutoscaler shop/worker",
			spec:  `{"maxReplicas":6,"metrics":[{"modelMetric":{"averageValue":"2","name":"tgi_queue_size"},"type":"ModelMetric"},{"external":{"metric":{"name":"queue_messages_ready","selector":{"matchLabels":{"queue":"worker_tasks"}}},"target":{"averageValue":"30","type":"AverageValue"}},"type":"External"},{"object":{"describedObject":{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","name":"main-route"},"metric":{"name":"requests-per-second"},"target":{"type":"Value","value":"2k"}},"type":"Object"}],"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"worker"}}`,
			notes: []string{"to do spec.metrics[0].pods.metricName"}},
		{file: "keda", source: "keda.sh/v1alpha1 ScaledObject default/cpu-scaledobject",
			spec:  `{"maxReplicas":100,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":50,"type":"Utilization"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"my-deployment"}}`,
			notes: []string{"changed spec.scaleTargetRef.kind", "changed spec.minReplicaCount", "changed spec.maxReplicaCount"}},
		{file: "keda", source: "keda.sh/v1alpha1 ScaledObject default/memory-scaledobject",
			err:   "spec.triggers: no trigger could be converted",
			notes: []string{"changed spec.scaleTargetRef.kind", "changed spec.minReplicaCount", "changed spec.maxReplicaCount", "not converted spec.triggers[0]"}},
		{file: "keda", source: "keda.sh/v1alpha1 ScaledObject default/prometheus-scaledobject",
			err:   "spec.triggers: no trigger could be converted",
			notes: []string{"changed spec.scaleTargetRef.kind", "changed spec.minReplicaCount", "changed spec.maxReplicaCount", "not converted spec.triggers[0]"}},
		{file: "keda", source: "keda.sh/v1alpha1 ScaledObject ai/llama",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":15,"type":"Percent","value":100}],"stabilizationWindowSeconds":300}},"maxReplicas":100,"metrics":[{"modelMetric":{"averageValue":"5","name":"vllm:num_requests_waiting"},"type":"ModelMetric"},{"gpu":{"averageUtilization":80,"metric":"utilization"},"type":"GPU"},{"resource":{"name":"cpu","target":{"averageValue":"1500m","type":"AverageValue"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"llama"}}`,
			notes: []string{"dropped metadata.annotations.autoscaling.keda.sh/paused", "dropped spec.pollingInterval", "dropped spec.cooldownPeriod", "dropped spec.fallback", "dropped spec.advanced.restoreToOriginalReplicaCount", "dropped spec.advanced.horizontalPodAutoscalerConfig.name", "dropped spec.triggers[0].metadata.activationThreshold", "dropped spec.triggers[0].metadata.serverAddress", "changed spec.triggers[0].metadata.query", "to do spec.triggers[0].metadata.query", "dropped spec.triggers[1].metadata.serverAddress", "changed spec.triggers[1].metadata.query", "not converted spec.triggers[3]"}},
		{file: "keda", source: "keda.sh/v1alpha1 ScaledObject ai/formula",
			err:   "spec.advanced.scalingModifiers: scalingModifiers combine the triggers in a formula, which an AutoscalingPolicy cannot express: each metric recommends on its own and the largest wins",
			notes: []string{"changed spec.scaleTargetRef.kind", "changed spec.minReplicaCount", "changed spec.maxReplicaCount", "dropped spec.triggers[0].name", "dropped spec.triggers[1].name"}},
		{file: "seldon", source: "machinelearning.seldon.io/v1alpha2 SeldonDeployment seldon-model",
			spec:  `{"maxReplicas":4,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":10,"type":"Utilization"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"machinelearning.seldon.io/v1alpha2","kind":"SeldonDeployment","name":"seldon-model"}}`,
			notes: []string{"to do spec.predictors[0].componentSpecs[0].hpaSpec", "to do spec.predictors[0].replicas"}},
		{file: "seldon", source: "machinelearning.seldon.io/v1 SeldonDeployment seldon/seldon-model",
			spec:  `{"maxReplicas":3,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":10,"type":"Utilization"}},"type":"Resource"}],"minReplicas":1,"targetRef":{"apiVersion":"machinelearning.seldon.io/v1","kind":"SeldonDeployment","name":"seldon-model"}}`,
			notes: []string{"to do spec.predictors[0].componentSpecs[0].hpaSpec"}},
		{file: "seldon", source: "machinelearning.seldon.io/v1 SeldonDeployment seldon/iris",
			skipped: "no autoscaling configured",
			notes:   []string(nil)},
		{file: "seldon", source: "machinelearning.seldon.io/v1 SeldonDeployment seldon/two",
			err:   "spec: 2 hpaSpecs (spec.predictors[0].componentSpecs[0].hpaSpec, spec.predictors[0].componentSpecs[1].hpaSpec) scale their components separately; an AutoscalingPolicy scales the whole SeldonDeployment through /scale: split the components into SeldonDeployments of their own",
			notes: []string(nil)},
		{file: "kubeai", source: "kubeai.io/v1alpha1 AIInferenceAutoscalerPolicy ai-workloads/llm-inference-policy",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":120,"type":"Percent","value":10}],"stabilizationWindowSeconds":300},"scaleUp":{"policies":[{"periodSeconds":60,"type":"Pods","value":2}],"stabilizationWindowSeconds":60}},"maxReplicas":10,"metrics":[{"latency":{"percentile":99,"target":"500ms"},"type":"Latency"},{"latency":{"percentile":95,"target":"200ms"},"type":"Latency"},{"gpu":{"averageUtilization":80,"metric":"utilization"},"type":"GPU"},{"queueDepth":{"averageValue":"10"},"type":"QueueDepth"}],"minReplicas":2,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"llm-inference-server"}}`,
			notes: []string{"dropped spec.cooldownPeriod"}},
		{file: "kubeai", source: "kubeai.io/v1alpha1 AIInferenceAutoscalerPolicy ai-workloads/gpu-intensive-policy",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":300,"type":"Pods","value":1}],"stabilizationWindowSeconds":600},"scaleUp":{"policies":[{"periodSeconds":120,"type":"Pods","value":1}],"stabilizationWindowSeconds":120}},"maxReplicas":5,"metrics":[{"gpu":{"averageUtilization":70,"metric":"utilization"},"type":"GPU"}],"minReplicas":1,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"image-generation-server"}}`,
			notes: []string{"dropped spec.cooldownPeriod", "dropped spec.metrics.latency", "dropped spec.metrics.gpuUtilization.prometheusQuery", "dropped spec.metrics.requestQueueDepth"}},
		{file: "kubeai", source: "kubeai.io/v1alpha1 AIInferenceAutoscalerPolicy production/latency-sla-policy",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":60,"type":"Percent","value":10}],"stabilizationWindowSeconds":300},"scaleUp":{"policies":[{"periodSeconds":30,"type":"Percent","value":100},{"periodSeconds":30,"type":"Pods","value":4}],"stabilizationWindowSeconds":30}},"maxReplicas":20,"metrics":[{"latency":{"percentile":99,"target":"100ms"},"type":"Latency"},{"latency":{"percentile":95,"target":"50ms"},"type":"Latency"},{"gpu":{"averageUtilization":60,"metric":"utilization"},"type":"GPU"},{"queueDepth":{"averageValue":"5"},"type":"QueueDepth"}],"minReplicas":3,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"realtime-inference-api"}}`,
			notes: []string{"dropped spec.cooldownPeriod", "dropped spec.metrics.latency.prometheusQuery"}},
		{file: "kubeai", source: "v1 Namespace ai-demo",
			skipped: "not an autoscaler",
			notes:   []string(nil)},
		{file: "kubeai", source: "apps/v1 Deployment ai-demo/gpu-inference-server",
			skipped: "not an autoscaler",
			notes:   []string(nil)},
		{file: "kubeai", source: "v1 Service ai-demo/gpu-inference-server",
			skipped: "not an autoscaler",
			notes:   []string(nil)},
		{file: "kubeai", source: "kubeai.io/v1alpha1 AIInferenceAutoscalerPolicy ai-demo/gpu-inference-policy",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":120,"type":"Percent","value":50}],"stabilizationWindowSeconds":300},"scaleUp":{"policies":[{"periodSeconds":60,"type":"Percent","value":100}],"stabilizationWindowSeconds":60}},"maxReplicas":8,"metrics":[{"latency":{"percentile":99,"target":"200ms"},"type":"Latency"},{"gpu":{"averageUtilization":75,"metric":"utilization"},"type":"GPU"},{"queueDepth":{"averageValue":"5"},"type":"QueueDepth"}],"minReplicas":2,"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"gpu-inference-server"}}`,
			notes: []string{"dropped spec.cooldownPeriod", "dropped spec.metrics.latency.prometheusQuery", "dropped spec.metrics.gpuUtilization.prometheusQuery", "dropped spec.metrics.requestQueueDepth.prometheusQuery"}},
		{file: "matrixinfer", source: "registry.matrixinfer.ai/v1alpha1 AutoscalingPolicy ml-models/advanced-autoscaling",
			spec:  `{"behavior":{"scaleDown":{"policies":[{"periodSeconds":60,"type":"Percent","value":10}],"stabilizationWindowSeconds":600},"scaleUp":{"policies":[{"periodSeconds":60,"type":"Percent","value":50},{"periodSeconds":60,"type":"Pods","value":2}],"stabilizationWindowSeconds":300}},"maxReplicas":20,"metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":60,"type":"Utilization"}},"type":"Resource"},{"resource":{"name":"memory","target":{"averageUtilization":80,"type":"Utilization"}},"type":"Resource"}],"minReplicas":2,"targetRef":{"apiVersion":"workload.matrixinfer.ai/v1alpha1","kind":"ModelInfer","name":"custom-model-infer"}}`,
			notes: []string(nil)},
		{file: "matrixinfer", source: "workload.matrixinfer.ai/v1alpha1 AutoscalingPolicy scaling-policy",
			err:   "spec: this MatrixInfer policy has no targetRef: its target and replica bounds are in an AutoscalingPolicyBinding, which convert does not read; write the policy by hand (metricName → ModelMetric, panicPolicy → burst)",
			notes: []string(nil)},
	}
	got := map[string][]Result{}
	for _, f := range []string{"hpa-v1", "hpa-v2", "keda", "seldon", "kubeai", "matrixinfer"} {
		data, err := os.ReadFile("testdata/" + f + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		results, err := Stream(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got[f] = results
	}
	seen := map[string]int{}
	for _, w := range cases {
		i := seen[w.file]
		seen[w.file]++
		if i >= len(got[w.file]) {
			t.Errorf("%s: no result %d (%s)", w.file, i, w.source)
			continue
		}
		r := got[w.file][i]
		t.Run(w.source, func(t *testing.T) {
			if r.Source != w.source {
				t.Fatalf("source %q, want %q", r.Source, w.source)
			}
			if errText(r.Err) != w.err || r.Skipped != w.skipped {
				t.Fatalf("err %q skipped %q, want err %q skipped %q", errText(r.Err), r.Skipped, w.err, w.skipped)
			}
			var notes []string
			for _, n := range r.Notes {
				notes = append(notes, string(n.Kind)+" "+n.Path)
				if n.Message == "" {
					t.Errorf("note %s has no message", n.Path)
				}
			}
			if !slices.Equal(notes, w.notes) {
				t.Errorf("notes\n got %q\nwant %q", notes, w.notes)
			}
			if w.spec == "" {
				if r.Policy != nil {
					t.Fatalf("unexpected policy %+v", r.Policy.Spec)
				}
				return
			}
			var spec v1alpha1.AutoscalingPolicySpec
			if err := yaml.UnmarshalStrict([]byte(w.spec), &spec); err != nil {
				t.Fatal(err)
			}
			if r.Policy == nil {
				t.Fatal("no policy")
			}
			if !apiequality.Semantic.DeepEqual(r.Policy.Spec, spec) {
				g, _ := yaml.Marshal(r.Policy.Spec)
				t.Errorf("spec\n%s\nwant\n%s", g, w.spec)
			}
		})
	}
	for f, results := range got {
		if len(results) != seen[f] {
			t.Errorf("%s: %d results, the table lists %d", f, len(results), seen[f])
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
