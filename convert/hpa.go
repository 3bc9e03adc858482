package convert

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// hpaDefaultCPU is the metric an HPA uses when it names none.
const hpaDefaultCPU = 80

func convertHPAv1(d *document, p *v1alpha1.AutoscalingPolicy) {
	spec := d.top().get("spec")
	p.Spec.TargetRef = targetRef(spec.get("scaleTargetRef"))
	replicaBounds(spec.get("minReplicas"), spec.get("maxReplicas"), &p.Spec)
	cpu := spec.get("targetCPUUtilizationPercentage")
	if u, ok := cpu.int32(); ok {
		p.Spec.Metrics = []v1alpha1.MetricSpec{utilization(corev1.ResourceCPU, u)}
	} else if !cpu.exists() {
		p.Spec.Metrics = hpaDefaultMetrics(cpu)
	}
}

// hpaDefaultMetrics is what an HPA scales on when it names no metric.
func hpaDefaultMetrics(unset node) []v1alpha1.MetricSpec {
	unset.note(Changed, fmt.Sprintf("unset: the HPA's default, %d %% cpu, is written out", hpaDefaultCPU))
	return []v1alpha1.MetricSpec{utilization(corev1.ResourceCPU, hpaDefaultCPU)}
}

// metricList converts each metric of a list with one; none at all means the
// HPA's default.
func metricList(list node, one func(node) (v1alpha1.MetricSpec, bool)) []v1alpha1.MetricSpec {
	items := list.items()
	if len(items) == 0 {
		return hpaDefaultMetrics(list)
	}
	var out []v1alpha1.MetricSpec
	for _, m := range items {
		if spec, ok := one(m); ok {
			out = append(out, spec)
		}
	}
	if len(out) == 0 {
		list.fail("no metric could be converted")
	}
	return out
}

func convertHPAv2(d *document, p *v1alpha1.AutoscalingPolicy) {
	hpaV2Spec(d.top().get("spec"), "scaleTargetRef", p)
}

// hpaV2Spec reads the autoscaling/v2 spec shape, which MatrixInfer's policy
// shares under the name targetRef.
func hpaV2Spec(spec node, refField string, p *v1alpha1.AutoscalingPolicy) {
	p.Spec.TargetRef = targetRef(spec.get(refField))
	replicaBounds(spec.get("minReplicas"), spec.get("maxReplicas"), &p.Spec)
	p.Spec.Metrics = metricList(spec.get("metrics"), metricV2)
	p.Spec.Behavior = behavior(spec.get("behavior"))
}

func convertHPAv2beta1(d *document, p *v1alpha1.AutoscalingPolicy) {
	spec := d.top().get("spec")
	p.Spec.TargetRef = targetRef(spec.get("scaleTargetRef"))
	replicaBounds(spec.get("minReplicas"), spec.get("maxReplicas"), &p.Spec)
	p.Spec.Metrics = metricList(spec.get("metrics"), metricV2beta1)
}

// appsKinds are the kinds whose apiVersion an HPA author may leave out.
var appsKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "ReplicaSet": true}

func targetRef(ref node) v1alpha1.CrossVersionObjectReference {
	if !ref.exists() {
		ref.fail("required: the workload to scale")
		return v1alpha1.CrossVersionObjectReference{}
	}
	out := v1alpha1.CrossVersionObjectReference{
		APIVersion: ref.get("apiVersion").str(),
		Kind:       ref.get("kind").str(),
		Name:       ref.get("name").str(),
	}
	if out.APIVersion == "" && appsKinds[out.Kind] {
		out.APIVersion = "apps/v1"
		ref.get("apiVersion").note(Changed, "unset: apps/v1 for a "+out.Kind)
	}
	if out.Name == "" {
		ref.get("name").fail("required: the name of the workload to scale")
	}
	return out
}

// replicaBounds reads minReplicas and maxReplicas. Scale to zero is not
// supported, so a minimum of 0 becomes 1.
func replicaBounds(minN, maxN node, s *v1alpha1.AutoscalingPolicySpec) {
	if v, ok := minN.int32(); ok {
		if v < 1 {
			minN.note(Changed, fmt.Sprintf("%d becomes 1: inferscale does not scale to zero", v))
			v = 1
		}
		s.MinReplicas = ptr.To(v)
	}
	if v, ok := maxN.int32(); ok {
		s.MaxReplicas = v
	} else if !maxN.exists() {
		maxN.fail("required")
	}
}

func utilization(name corev1.ResourceName, percent int32) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
		Name:   name,
		Target: v1alpha1.MetricTarget{Type: v1alpha1.UtilizationMetricType, AverageUtilization: ptr.To(percent)},
	}}
}

func modelMetric(name string, perReplica resource.Quantity) v1alpha1.MetricSpec {
	return v1alpha1.MetricSpec{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: name, AverageValue: perReplica}}
}

func metricV2(m node) (v1alpha1.MetricSpec, bool) {
	switch t := m.get("type").str(); t {
	case "Resource":
		r := m.get("resource")
		return v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: &v1alpha1.ResourceMetricSource{
			Name:   corev1.ResourceName(r.get("name").str()),
			Target: metricTarget(r.get("target")),
		}}, true
	case "Pods":
		pods := m.get("pods")
		id := pods.get("metric")
		gauge, isGauge := modelGauge(fmt.Sprint(id.get("name").v))
		target := pods.get("target")
		if isGauge && !id.get("selector").exists() && target.get("type").v == "AverageValue" {
			// The agents read the gauge from each pod: no metrics adapter in between.
			target.get("type").use()
			id.get("name").note(Action, modelMetricAction(gauge))
			q, ok := target.get("averageValue").quantity()
			return modelMetric(gauge, q), ok
		}
		return v1alpha1.MetricSpec{Type: v1alpha1.PodsMetricType, Pods: &v1alpha1.PodsMetricSource{
			Metric: metricIdentifier(id), Target: metricTarget(target),
		}}, true
	case "Object":
		o := m.get("object")
		return v1alpha1.MetricSpec{Type: v1alpha1.ObjectMetricType, Object: &v1alpha1.ObjectMetricSource{
			DescribedObject: objectRef(o.get("describedObject")), Metric: metricIdentifier(o.get("metric")), Target: metricTarget(o.get("target")),
		}}, true
	case "External":
		e := m.get("external")
		return v1alpha1.MetricSpec{Type: v1alpha1.ExternalMetricType, External: &v1alpha1.ExternalMetricSource{
			Metric: metricIdentifier(e.get("metric")), Target: metricTarget(e.get("target")),
		}}, true
	case "ContainerResource":
		m.note(NotConverted, "container resource metrics have no equivalent: a Resource metric measures the whole pod")
	default:
		m.get("type").fail(fmt.Sprintf("unknown metric type %q", t))
	}
	return v1alpha1.MetricSpec{}, false
}

func metricIdentifier(id node) v1alpha1.MetricIdentifier {
	return v1alpha1.MetricIdentifier{Name: id.get("name").str(), Selector: labelSelector(id.get("selector"))}
}

// objectRef reads the object an Object metric describes.
func objectRef(ref node) v1alpha1.CrossVersionObjectReference {
	return v1alpha1.CrossVersionObjectReference{APIVersion: ref.get("apiVersion").str(), Kind: ref.get("kind").str(), Name: ref.get("name").str()}
}

func labelSelector(n node) *metav1.LabelSelector {
	if !n.exists() {
		return nil
	}
	var sel metav1.LabelSelector
	if n.decode(&sel) {
		return &sel
	}
	return nil
}

func metricTarget(t node) v1alpha1.MetricTarget {
	out := v1alpha1.MetricTarget{Type: v1alpha1.MetricTargetType(t.get("type").str())}
	if v, ok := t.get("averageUtilization").int32(); ok {
		out.AverageUtilization = ptr.To(v)
	}
	if q, ok := t.get("averageValue").quantity(); ok {
		out.AverageValue = &q
	}
	if q, ok := t.get("value").quantity(); ok {
		out.Value = &q
	}
	return out
}

// metricV2beta1 converts the older metric shape that Seldon's hpaSpec.metrics uses.
func metricV2beta1(m node) (v1alpha1.MetricSpec, bool) {
	switch t := m.get("type").str(); t {
	case "Resource":
		r := m.get("resource")
		src := &v1alpha1.ResourceMetricSource{Name: corev1.ResourceName(r.get("name").str())}
		if v, ok := r.get("targetAverageUtilization").int32(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.UtilizationMetricType, AverageUtilization: ptr.To(v)}
		} else if q, ok := r.get("targetAverageValue").quantity(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: &q}
		} else {
			r.fail("targetAverageUtilization or targetAverageValue is required")
			return v1alpha1.MetricSpec{}, false
		}
		return v1alpha1.MetricSpec{Type: v1alpha1.ResourceMetricType, Resource: src}, true
	case "Pods":
		pods := m.get("pods")
		gauge, isGauge := modelGauge(fmt.Sprint(pods.get("metricName").v))
		if isGauge && !pods.get("selector").exists() {
			pods.get("metricName").note(Action, modelMetricAction(gauge))
			q, ok := pods.get("targetAverageValue").quantity()
			return modelMetric(gauge, q), ok
		}
		q, _ := pods.get("targetAverageValue").quantity()
		return v1alpha1.MetricSpec{Type: v1alpha1.PodsMetricType, Pods: &v1alpha1.PodsMetricSource{
			Metric: v1alpha1.MetricIdentifier{Name: pods.get("metricName").str(), Selector: labelSelector(pods.get("selector"))},
			Target: v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: &q},
		}}, true
	case "Object":
		o := m.get("object")
		src := &v1alpha1.ObjectMetricSource{
			DescribedObject: objectRef(o.get("target")),
			Metric:          v1alpha1.MetricIdentifier{Name: o.get("metricName").str(), Selector: labelSelector(o.get("selector"))},
		}
		if q, ok := o.get("averageValue").quantity(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: &q}
			o.get("targetValue").drop("averageValue is set, and it is what the HPA uses then")
		} else if q, ok := o.get("targetValue").quantity(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.ValueMetricType, Value: &q}
		}
		return v1alpha1.MetricSpec{Type: v1alpha1.ObjectMetricType, Object: src}, true
	case "External":
		e := m.get("external")
		src := &v1alpha1.ExternalMetricSource{Metric: v1alpha1.MetricIdentifier{Name: e.get("metricName").str(), Selector: labelSelector(e.get("metricSelector"))}}
		if q, ok := e.get("targetAverageValue").quantity(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: &q}
		} else if q, ok := e.get("targetValue").quantity(); ok {
			src.Target = v1alpha1.MetricTarget{Type: v1alpha1.ValueMetricType, Value: &q}
		}
		return v1alpha1.MetricSpec{Type: v1alpha1.ExternalMetricType, External: src}, true
	default:
		m.get("type").fail(fmt.Sprintf("unknown metric type %q", t))
	}
	return v1alpha1.MetricSpec{}, false
}

// behavior converts HPA's behavior, whose fields AutoscalingPolicy shares.
func behavior(b node) *v1alpha1.Behavior {
	if !b.exists() {
		return nil
	}
	return &v1alpha1.Behavior{ScaleUp: scalingRules(b.get("scaleUp")), ScaleDown: scalingRules(b.get("scaleDown"))}
}

func scalingRules(r node) *v1alpha1.ScalingRules {
	if !r.exists() {
		return nil
	}
	out := &v1alpha1.ScalingRules{}
	if v, ok := r.get("stabilizationWindowSeconds").int32(); ok {
		out.StabilizationWindowSeconds = ptr.To(v)
	}
	if s := r.get("selectPolicy").str(); s != "" {
		out.SelectPolicy = ptr.To(v1alpha1.ScalingPolicySelect(s))
	}
	out.Policies = scalingPolicies(r.get("policies"))
	if q, ok := r.get("tolerance").quantity(); ok {
		out.Tolerance = &q
	}
	return out
}

func scalingPolicies(list node) []v1alpha1.ScalingPolicy {
	var out []v1alpha1.ScalingPolicy
	for _, p := range list.items() {
		value, _ := p.get("value").int32()
		period, _ := p.get("periodSeconds").int32()
		out = append(out, v1alpha1.ScalingPolicy{Type: v1alpha1.ScalingPolicyType(p.get("type").str()), Value: value, PeriodSeconds: period})
	}
	return out
}
