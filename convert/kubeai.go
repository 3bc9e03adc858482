package convert

import (
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

const kubeAIQuery = "no Prometheus is queried: the agent measures it at the pod"

// convertKubeAI converts a kubeai.io/v1alpha1 AIInferenceAutoscalerPolicy. Its
// CRD turns latency and gpuUtilization on unless enabled is false, and
// requestQueueDepth only when enabled is true.
func convertKubeAI(d *document, p *v1alpha1.AutoscalingPolicy) {
	spec := d.top().get("spec")
	p.Spec.TargetRef = targetRef(spec.get("targetRef"))
	replicaBounds(spec.get("minReplicas"), spec.get("maxReplicas"), &p.Spec)
	spec.get("cooldownPeriod").drop("no pause between scaling events: behavior's stabilization windows and rate policies pace scaling")

	metrics := spec.get("metrics")
	if lat := metrics.get("latency"); lat.exists() && lat.get("enabled").boolean(true) {
		for _, pct := range []int{99, 95} {
			field := lat.get("targetP" + strconv.Itoa(pct) + "Ms")
			if ms, ok := field.int32(); ok {
				p.Spec.Metrics = append(p.Spec.Metrics, v1alpha1.MetricSpec{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{
					Percentile: float64(pct), Target: metav1.Duration{Duration: time.Duration(ms) * time.Millisecond},
				}})
			}
		}
		lat.get("prometheusQuery").drop(kubeAIQuery + ": the agents time every request through their proxy")
	} else {
		lat.drop("disabled")
	}
	if gpu := metrics.get("gpuUtilization"); gpu.exists() && gpu.get("enabled").boolean(true) {
		if pct, ok := gpu.get("targetPercentage").int32(); ok {
			p.Spec.Metrics = append(p.Spec.Metrics, v1alpha1.MetricSpec{Type: v1alpha1.GPUMetricType, GPU: &v1alpha1.GPUMetricSource{Metric: v1alpha1.GPUUtilization, AverageUtilization: pct}})
		}
		gpu.get("prometheusQuery").drop(kubeAIQuery + ": NVML utilization of the pod's own GPUs")
	} else {
		gpu.drop("disabled")
	}
	if q := metrics.get("requestQueueDepth"); q.exists() && q.get("enabled").boolean(false) {
		if depth, ok := q.get("targetDepth").int32(); ok {
			if depth < 1 {
				q.get("targetDepth").fail(fmt.Sprintf("%d: a queue depth target per replica must be at least 1", depth))
			} else {
				p.Spec.Metrics = append(p.Spec.Metrics, v1alpha1.MetricSpec{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: *resource.NewQuantity(int64(depth), resource.DecimalSI)}})
			}
		}
		q.get("prometheusQuery").drop(kubeAIQuery + ": requests in flight and waiting at the agent")
	} else {
		q.drop("disabled (requestQueueDepth is off unless enabled is true)")
	}
	if len(p.Spec.Metrics) == 0 && len(d.errs) == 0 {
		metrics.fail("no enabled metric with a target")
	}

	tolerance := kubeAIAlgorithm(spec.get("algorithm"))
	scaleUp, scaleDown := scalingRules(spec.get("scaleUp")), scalingRules(spec.get("scaleDown"))
	if tolerance != nil {
		for _, r := range []**v1alpha1.ScalingRules{&scaleUp, &scaleDown} {
			if *r == nil {
				*r = &v1alpha1.ScalingRules{}
			}
			(*r).Tolerance = tolerance
		}
	}
	if scaleUp != nil || scaleDown != nil {
		p.Spec.Behavior = &v1alpha1.Behavior{ScaleUp: scaleUp, ScaleDown: scaleDown}
	}
}

// kubeAIAlgorithm returns the tolerance of the algorithm; its name is MaxRatio
// (the largest recommendation wins) or reported.
func kubeAIAlgorithm(a node) *resource.Quantity {
	if !a.exists() {
		return nil
	}
	switch name := a.get("name").str(); name {
	case "", "MaxRatio":
	default:
		a.get("name").note(Changed, fmt.Sprintf("%s: inferscale takes the largest recommendation of the metrics, as MaxRatio does", name))
	}
	a.get("weights").drop("inferscale takes the largest recommendation; metrics are not weighted")
	q, ok := a.get("tolerance").quantity()
	if !ok {
		return nil
	}
	a.get("tolerance").note(Changed, "written as behavior.scaleUp.tolerance and behavior.scaleDown.tolerance")
	return &q
}
