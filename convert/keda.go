package convert

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// KEDA's defaults (keda.sh/v1alpha1 ScaledObject).
const (
	kedaMaxReplicas = 100
)

const kedaScaleToZero = "only applies to scaling to and from zero, which inferscale does not do"

// promAggregate matches a query that aggregates one metric over all its
// series: sum(NAME{...}) or avg(NAME{...}).
var promAggregate = regexp.MustCompile(`^\s*(sum|avg)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^{}]*\})?\s*\)\s*$`)

// dcgmGPUUtil is the DCGM exporter's GPU utilization gauge, in percent.
const dcgmGPUUtil = "DCGM_FI_DEV_GPU_UTIL"

func convertScaledObject(d *document, p *v1alpha1.AutoscalingPolicy) {
	top := d.top()
	annotations := top.get("metadata").get("annotations")
	for _, k := range annotations.keys() {
		a := annotations.get(k)
		switch k {
		case "autoscaling.keda.sh/paused":
			if a.str() == "true" {
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[v1alpha1.PausedAnnotation] = "true"
				a.note(Changed, "written as "+v1alpha1.PausedAnnotation+`: "true"`)
			} else {
				a.drop("not paused")
			}
		case "autoscaling.keda.sh/paused-replicas":
			a.drop("a paused policy keeps the target's replicas as they are; no count is set")
		case "scaledobject.keda.sh/transfer-hpa-ownership", "validations.keda.sh/hpa-ownership":
			a.drop("inferscale holds a target that an HPA also scales rather than taking the HPA over: delete the HPA")
		default:
			if strings.Contains(k, "keda.sh/") {
				a.drop("a KEDA annotation")
			} else {
				if p.Annotations == nil {
					p.Annotations = map[string]string{}
				}
				p.Annotations[k] = a.str()
			}
		}
	}

	spec := top.get("spec")
	ref := spec.get("scaleTargetRef")
	p.Spec.TargetRef = targetRef(ref)
	if p.Spec.TargetRef.Kind == "" && ref.exists() {
		p.Spec.TargetRef.APIVersion, p.Spec.TargetRef.Kind = "apps/v1", "Deployment"
		ref.get("kind").note(Changed, "unset: KEDA's default, an apps/v1 Deployment")
	}
	ref.get("envSourceContainerName").drop("inferscale reads no configuration from the target's environment")

	if v, ok := spec.get("minReplicaCount").int32(); ok && v >= 1 {
		p.Spec.MinReplicas = ptr.To(v)
	} else if len(d.errs) == 0 {
		spec.get("minReplicaCount").note(Changed, "1 instead of KEDA's 0 (the default when unset): inferscale does not scale to zero")
		p.Spec.MinReplicas = ptr.To[int32](1)
	}
	if v, ok := spec.get("maxReplicaCount").int32(); ok {
		p.Spec.MaxReplicas = v
	} else if !spec.get("maxReplicaCount").exists() {
		p.Spec.MaxReplicas = kedaMaxReplicas
		spec.get("maxReplicaCount").note(Changed, fmt.Sprintf("unset: KEDA's default, %d, is written out", kedaMaxReplicas))
	}
	spec.get("pollingInterval").drop("nothing is polled: the agents report every second")
	spec.get("cooldownPeriod").drop(kedaScaleToZero)
	spec.get("initialCooldownPeriod").drop(kedaScaleToZero)
	spec.get("idleReplicaCount").drop(kedaScaleToZero)
	spec.get("fallback").drop("no fixed fallback count: while no metric can be computed, the target keeps its replicas (ScalingActive is False)")

	adv := spec.get("advanced")
	adv.get("restoreToOriginalReplicaCount").drop("deleting the policy leaves the replicas as they are")
	if mods := adv.get("scalingModifiers"); mods.exists() {
		mods.fail("scalingModifiers combine the triggers in a formula, which an AutoscalingPolicy cannot express: each metric recommends on its own and the largest wins")
	}
	hpaConfig := adv.get("horizontalPodAutoscalerConfig")
	hpaConfig.get("name").drop("no HPA is created")
	p.Spec.Behavior = behavior(hpaConfig.get("behavior"))

	triggers := spec.get("triggers").items()
	for _, t := range triggers {
		if m, ok := kedaTrigger(t); ok {
			p.Spec.Metrics = append(p.Spec.Metrics, m)
		}
	}
	if len(p.Spec.Metrics) == 0 && len(d.errs) == 0 {
		spec.get("triggers").fail("no trigger could be converted")
	}
}

func kedaTrigger(t node) (v1alpha1.MetricSpec, bool) {
	typ := t.get("type").str()
	t.get("name").drop("metrics are named by their type and target")
	t.get("useCachedMetrics").drop("nothing is polled: the agents report every second")
	switch typ {
	case "cpu", "memory":
		return kedaResource(t, corev1.ResourceName(typ))
	case "prometheus":
		return kedaPrometheus(t)
	}
	t.note(NotConverted, fmt.Sprintf("KEDA's %s scaler has no equivalent: inferscale scales on what the pods serve (latency, queue depth, request rate, model-server gauges, GPU, cpu, memory)", typ))
	return v1alpha1.MetricSpec{}, false
}

func kedaResource(t node, name corev1.ResourceName) (v1alpha1.MetricSpec, bool) {
	md := t.get("metadata")
	if c := md.get("containerName"); c.str() != "" {
		t.note(NotConverted, fmt.Sprintf("the %s of container %q: a Resource metric measures the whole pod", name, c.v))
		return v1alpha1.MetricSpec{}, false
	}
	metricType := t.get("metricType").str()
	if legacy := md.get("type").str(); legacy != "" && metricType == "" {
		metricType = legacy // metadata.type is KEDA's deprecated spelling of metricType
	}
	target := v1alpha1.MetricTarget{Type: v1alpha1.MetricTargetType(metricType)}
	value := md.get("value")
	switch target.Type {
	case v1alpha1.UtilizationMetricType:
		if v, ok := value.int32(); ok {
			target.AverageUtilization = ptr.To(v)
		}
	case v1alpha1.AverageValueMetricType:
		if q, ok := value.quantity(); ok {
			target.AverageValue = &q
		}
	default:
		t.get("metricType").fail(fmt.Sprintf("%q: must be Utilization or AverageValue", metricType))
		return v1alpha1.MetricSpec{}, false
	}
	if !value.exists() {
		value.fail("required")
		return v1alpha1.MetricSpec{}, false
	}
	return v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{Name: name, Target: target}}, true
}

// kedaPrometheus converts a trigger whose query aggregates one model-server
// gauge, or the DCGM exporter's GPU utilization, over the target's pods. With
// KEDA's default AverageValue the threshold is per replica of sum(...); with
// Value it is the avg(...) itself: either way a value per ready replica.
func kedaPrometheus(t node) (v1alpha1.MetricSpec, bool) {
	md := t.get("metadata")
	query := strings.TrimSpace(md.get("query").str())
	metricType := t.get("metricType").str()
	if metricType == "" {
		metricType = "AverageValue"
	}
	m := promAggregate.FindStringSubmatch(query)
	perReplica := m != nil && ((m[1] == "sum" && metricType == "AverageValue") || (m[1] == "avg" && metricType == "Value"))
	if !perReplica {
		t.note(NotConverted, fmt.Sprintf("query %q with metricType %s: only sum(GAUGE{...}) with AverageValue or avg(GAUGE{...}) with Value, of a model-server gauge or %s, has an equivalent; the agents measure latency, queue depth and request rate themselves (Latency, QueueDepth, RequestRate metrics)", query, metricType, dcgmGPUUtil))
		return v1alpha1.MetricSpec{}, false
	}
	name, selector := m[2], m[3]
	gauge, isGauge := modelGauge(name)
	if !isGauge && name != dcgmGPUUtil {
		t.note(NotConverted, fmt.Sprintf("%s is not a model-server gauge the agent can read from the pod (vllm:, sglang:, tgi_, nv_inference_) nor %s", name, dcgmGPUUtil))
		return v1alpha1.MetricSpec{}, false
	}
	threshold, ok := md.get("threshold").quantity()
	if !ok {
		if !md.get("threshold").exists() {
			md.get("threshold").fail("required")
		}
		return v1alpha1.MetricSpec{}, false
	}
	md.get("activationThreshold").drop(kedaScaleToZero)
	const noPrometheus = "no Prometheus is queried: the agent reads the value from the pod"
	for _, k := range []string{"serverAddress", "namespace", "customHeaders", "ignoreNullValues", "queryParameters", "unsafeSsl", "timeout", "authModes"} {
		md.get(k).drop(noPrometheus)
	}
	t.get("authenticationRef").drop(noPrometheus)
	if name == dcgmGPUUtil {
		pct, ok := threshold.AsInt64()
		if !ok || pct < 1 || pct > 100 {
			md.get("threshold").fail(fmt.Sprintf("%s: a GPU utilization target must be a whole percent, 1..100", threshold.String()))
			return v1alpha1.MetricSpec{}, false
		}
		md.get("query").note(Changed, "NVML utilization that each agent reads from its pod's GPUs replaces the DCGM exporter's gauge"+matchers(selector))
		return v1alpha1.MetricSpec{Type: v1alpha1.GPUMetricType, GPU: &v1alpha1.GPUMetricSource{Metric: v1alpha1.GPUUtilization, AverageUtilization: int32(pct)}}, true
	}
	if m := matchers(selector); m != "" {
		md.get("query").note(Changed, "each agent reads "+gauge+" from its own pod"+m)
	}
	md.get("query").note(Action, modelMetricAction(gauge))
	return modelMetric(gauge, threshold), true
}

func matchers(selector string) string {
	if selector == "" || selector == "{}" {
		return ""
	}
	return "; the label matchers " + selector + " are dropped: the policy averages over the target's ready pods"
}
