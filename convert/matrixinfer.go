package convert

import "github.com/inferscale/inferscale/api/v1alpha1"

// convertMatrixInfer converts a MatrixInfer AutoscalingPolicy of the HPA-shaped
// API (registry.matrixinfer.ai/v1alpha1 with spec.targetRef), whose fields
// AutoscalingPolicy shares. The later API, whose policy names metricName and
// targetValue and leaves target and bounds to an AutoscalingPolicyBinding, is
// refused with that reason.
func convertMatrixInfer(d *document, p *v1alpha1.AutoscalingPolicy) {
	spec := d.top().get("spec")
	if !spec.get("targetRef").exists() && (spec.get("tolerancePercent").exists() || spec.get("metrics").exists()) {
		spec.fail("this MatrixInfer policy has no targetRef: its target and replica bounds are in an AutoscalingPolicyBinding, which convert does not read; write the policy by hand (metricName → ModelMetric, panicPolicy → burst)")
		return
	}
	hpaV2Spec(spec, "targetRef", p)
}
