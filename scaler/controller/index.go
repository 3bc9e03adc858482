package controller

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
)

// Field indexes of the manager's cache, so that a policy's reconcile finds the other policies
// and the HPAs of its target without scanning every object of the namespace.
const (
	policyTargetIndex = "inferscale.io/target"
	hpaTargetIndex    = "inferscale.io/hpa-target"
)

// indexValue is the indexed form of a target in its namespace: "<group>/<kind>/<name>"; the
// version is left out as in target.Key.
func indexValue(group, kind, name string) string { return group + "/" + kind + "/" + name }

// Index is one field index the controller's lists need.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// Indexes are the field indexes the controller needs: a fake client is built with them
// (WithIndex), a manager gets them from SetupWithManager.
func Indexes() []Index {
	return []Index{
		{&v1alpha1.AutoscalingPolicy{}, policyTargetIndex, func(o client.Object) []string {
			k := target.ForPolicy(o.(*v1alpha1.AutoscalingPolicy))
			return []string{indexValue(k.Group, k.Kind, k.Name)}
		}},
		{&autoscalingv2.HorizontalPodAutoscaler{}, hpaTargetIndex, func(o client.Object) []string {
			ref := o.(*autoscalingv2.HorizontalPodAutoscaler).Spec.ScaleTargetRef
			gv, _ := schema.ParseGroupVersion(ref.APIVersion)
			return []string{indexValue(gv.Group, ref.Kind, ref.Name)}
		}},
	}
}

func indexFields(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range Indexes() {
		if err := indexer.IndexField(ctx, ix.Object, ix.Field, ix.Extract); err != nil {
			return fmt.Errorf("index %T by %s: %w", ix.Object, ix.Field, err)
		}
	}
	return nil
}
