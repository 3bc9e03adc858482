package optin

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/workload"
)

// ClientLookup reads owners and namespaces as metadata only, from informers (see
// workload.ClientGetter), and policies from the cache.
type ClientLookup struct {
	workload.ClientGetter
}

var _ Lookup = (*ClientLookup)(nil)

// NamespaceLabels implements Lookup.
func (l *ClientLookup) NamespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns, err := l.Get(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "", name)
	if err != nil || ns == nil {
		return nil, err
	}
	return ns.Labels, nil
}

// PolicyModelMetrics returns the ModelMetric gauges of the policies in namespace that target
// one of owners (ModelMetricsOf), so the agent scrapes what they scale on.
func (l *ClientLookup) PolicyModelMetrics(ctx context.Context, namespace string, owners []workload.Owner) ([]string, error) {
	var list v1alpha1.AutoscalingPolicyList
	if err := l.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, err
	}
	return ModelMetricsOf(list.Items, owners), nil
}

// ModelMetricsOf returns the names of the ModelMetric metrics of the policies that target one
// of owners, in the policies' order, each once.
func ModelMetricsOf(policies []v1alpha1.AutoscalingPolicy, owners []workload.Owner) []string {
	var out []string
	for i := range policies {
		p := &policies[i]
		if p.DeletionTimestamp != nil || !slices.ContainsFunc(owners, func(o workload.Owner) bool {
			return workload.Targets(p.Spec.Target(), o.GroupKind, o.Name)
		}) {
			continue
		}
		for _, m := range p.Spec.Metrics {
			if m.ModelMetric != nil && m.ModelMetric.Name != "" && !slices.Contains(out, m.ModelMetric.Name) {
				out = append(out, m.ModelMetric.Name)
			}
		}
	}
	return out
}

// PolicyTargeting implements Lookup.
func (l *ClientLookup) PolicyTargeting(ctx context.Context, namespace string, gk schema.GroupKind, name string) (string, error) {
	var list v1alpha1.AutoscalingPolicyList
	if err := l.Cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		if meta.IsNoMatchError(err) {
			return "", nil // the CRD is not installed: no policy targets anything
		}
		return "", err
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && workload.Targets(p.Spec.Target(), gk, name) {
			return p.Name, nil
		}
	}
	return "", nil
}
