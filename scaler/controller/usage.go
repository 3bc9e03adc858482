package controller

import (
	"context"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/inferscale/inferscale/scaler/decision"
)

// UsageReader reads pod usage from metrics.k8s.io; the metrics clientset's MetricsV1beta1()
// is one.
type UsageReader = metricsv1beta1.PodMetricsesGetter

// usage reads cpu/memory usage of the target's pods. A resource is left out when the API
// fails or is not served, which makes its metrics invalid in the decision (HPA's rule).
func (c *Controller) usage(ctx context.Context, log logr.Logger, namespace string, sel labels.Selector, pods []corev1.Pod, res []corev1.ResourceName) map[corev1.ResourceName]map[string]decision.ResourceUsage {
	if c.opts.Usage == nil {
		return nil
	}
	opts := metav1.ListOptions{}
	if sel != nil {
		opts.LabelSelector = sel.String()
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	list, err := c.opts.Usage.PodMetricses(namespace).List(ctx, opts)
	if err != nil {
		log.Error(err, "Reading metrics.k8s.io failed; Resource metrics are invalid this tick")
		return nil
	}
	ours := make(map[string]bool, len(pods))
	for i := range pods {
		ours[pods[i].Name] = true
	}
	out := make(map[corev1.ResourceName]map[string]decision.ResourceUsage, len(res))
	for _, r := range res {
		out[r] = map[string]decision.ResourceUsage{}
	}
	for _, pm := range list.Items {
		if !ours[pm.Name] {
			continue
		}
		for _, r := range res {
			var sum int64
			missing := false
			for _, ctr := range pm.Containers {
				q, ok := ctr.Usage[r]
				if !ok {
					missing = true
					break
				}
				sum += q.MilliValue()
			}
			if missing || len(pm.Containers) == 0 {
				continue
			}
			out[r][pm.Name] = decision.ResourceUsage{Value: sum, Timestamp: pm.Timestamp.Time, Window: pm.Window.Duration}
		}
	}
	return out
}
