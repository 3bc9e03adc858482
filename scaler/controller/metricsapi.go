package controller

import (
	"fmt"
	"math"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
)

// CustomMetricsReader reads custom.metrics.k8s.io; custom_metrics.NewForConfig returns one.
type CustomMetricsReader = custom_metrics.CustomMetricsClient

// ExternalMetricsReader reads external.metrics.k8s.io; external_metrics.NewForConfig returns
// one.
type ExternalMetricsReader = external_metrics.ExternalMetricsClient

// usesMetricsAPI reports whether the spec has a Pods, Object or External metric.
func usesMetricsAPI(spec *v1alpha1.AutoscalingPolicySpec) bool {
	for i := range spec.Metrics {
		if spec.Metrics[i].Pods != nil || spec.Metrics[i].Object != nil || spec.Metrics[i].External != nil {
			return true
		}
	}
	return false
}

// metricsAPI reads the spec's Pods, Object and External metrics as HPA's REST metrics client
// does (GetRawMetric, GetObjectMetric, GetExternalMetric), always in the policy's namespace:
// an Object metric of a Namespace is the policy's own, whatever name it gives, so a policy
// reads no other namespace's metrics through the scaler. A failure is the metric's error, and
// counted; the other metrics still decide.
func (c *Controller) metricsAPI(policy types.NamespacedName, namespace string, sel labels.Selector, spec *v1alpha1.AutoscalingPolicySpec) map[string]decision.APIMetric {
	out := map[string]decision.APIMetric{}
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		key := decision.MetricsAPIKey(m)
		if _, done := out[key]; done || key == "" {
			continue
		}
		var got decision.APIMetric
		stage := "custom_metrics"
		switch {
		case m.Pods != nil:
			got = c.podsMetric(namespace, sel, m.Pods)
		case m.Object != nil:
			got = c.objectMetric(namespace, m.Object)
		default:
			stage, got = "external_metrics", c.externalMetric(namespace, m.External)
		}
		if got.Err != nil {
			c.opts.Metrics.tickError(policy, stage)
		}
		out[key] = got
	}
	return out
}

func (c *Controller) podsMetric(namespace string, sel labels.Selector, src *v1alpha1.PodsMetricSource) decision.APIMetric {
	name := src.Metric.Name
	metricSel, err := metav1.LabelSelectorAsSelector(src.Metric.Selector)
	if err != nil {
		return decision.APIMetric{Err: fmt.Errorf("metric %s selector: %w", name, err)}
	}
	if c.opts.CustomMetrics == nil {
		return decision.APIMetric{Err: fmt.Errorf("unable to get metric %s: the scaler has no custom.metrics.k8s.io client", name)}
	}
	if sel == nil {
		// A target without a /scale selector: every pod of the namespace; the decision
		// counts only the target's own.
		sel = labels.Everything()
	}
	list, err := c.opts.CustomMetrics.NamespacedMetrics(namespace).GetForObjects(schema.GroupKind{Kind: "Pod"}, sel, name, metricSel)
	if err != nil {
		return decision.APIMetric{Err: fmt.Errorf("unable to get metric %s: unable to fetch metrics from custom metrics API: %w", name, err)}
	}
	if len(list.Items) == 0 {
		return decision.APIMetric{Err: fmt.Errorf("unable to get metric %s: no metrics returned from custom metrics API", name)}
	}
	out := decision.APIMetric{Pods: make(map[string]int64, len(list.Items)), Timestamp: list.Items[0].Timestamp.Time}
	for _, v := range list.Items {
		out.Pods[v.DescribedObject.Name] = v.Value.MilliValue()
	}
	return out
}

func (c *Controller) objectMetric(namespace string, src *v1alpha1.ObjectMetricSource) decision.APIMetric {
	name, ref := src.Metric.Name, src.DescribedObject
	fail := func(err error) decision.APIMetric {
		return decision.APIMetric{Err: fmt.Errorf("unable to get metric %s on %s %s/%s: %w", name, ref.Kind, namespace, ref.Name, err)}
	}
	metricSel, err := metav1.LabelSelectorAsSelector(src.Metric.Selector)
	if err != nil {
		return fail(fmt.Errorf("metric selector: %w", err))
	}
	if c.opts.CustomMetrics == nil {
		return fail(fmt.Errorf("the scaler has no custom.metrics.k8s.io client"))
	}
	gk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind).GroupKind()
	var v *cmv1beta2.MetricValue
	if gk.Kind == "Namespace" && gk.Group == "" {
		v, err = c.opts.CustomMetrics.RootScopedMetrics().GetForObject(gk, namespace, name, metricSel)
	} else {
		v, err = c.opts.CustomMetrics.NamespacedMetrics(namespace).GetForObject(gk, ref.Name, name, metricSel)
	}
	if err != nil {
		return fail(fmt.Errorf("unable to fetch metrics from custom metrics API: %w", err))
	}
	return decision.APIMetric{Value: v.Value.MilliValue(), Timestamp: v.Timestamp.Time}
}

func (c *Controller) externalMetric(namespace string, src *v1alpha1.ExternalMetricSource) decision.APIMetric {
	name := src.Metric.Name
	fail := func(err error) decision.APIMetric {
		return decision.APIMetric{Err: fmt.Errorf("unable to get external metric %s/%s/%s: %w", namespace, name, selectorString(src.Metric.Selector), err)}
	}
	metricSel, err := metav1.LabelSelectorAsSelector(src.Metric.Selector)
	if err != nil {
		return fail(fmt.Errorf("metric selector: %w", err))
	}
	if c.opts.ExternalMetrics == nil {
		return fail(fmt.Errorf("the scaler has no external.metrics.k8s.io client"))
	}
	list, err := c.opts.ExternalMetrics.NamespacedMetrics(namespace).List(name, metricSel)
	if err != nil {
		return fail(fmt.Errorf("unable to fetch metrics from external metrics API: %w", err))
	}
	if len(list.Items) == 0 {
		return fail(fmt.Errorf("no metrics returned from external metrics API"))
	}
	out := decision.APIMetric{Timestamp: list.Items[0].Timestamp.Time}
	for _, v := range list.Items {
		out.Value = saturatingAdd(out.Value, v.Value.MilliValue())
	}
	return out
}

// saturatingAdd adds as HPA's GetExternalMetricReplicas does: a sum past MaxInt64 stays there.
func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	if b < 0 && a < math.MinInt64-b {
		return math.MinInt64
	}
	return a + b
}

// selectorString renders a metric selector for an error, "<none>" when there is none.
func selectorString(s *metav1.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	return metav1.FormatLabelSelector(s)
}
