package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

// seldonScale reads the SeldonDeployment k names and says which Deployments its operator
// makes and what sets their replicas; nil for a target of another kind.
func (c *Controller) seldonScale(ctx context.Context, k target.Key) (*workload.SeldonScale, error) {
	if k.GroupKind() != workload.SeldonDeployment {
		return nil, nil
	}
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u); err != nil {
		return nil, fmt.Errorf("read SeldonDeployment %s/%s: %w", k.Namespace, k.Name, err)
	}
	spec, _ := u.Object["spec"].(map[string]any)
	s, err := workload.SeldonScaleOf(k.Name, spec)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// overrideMessage is s's OverrideMessage, "" for a target that is not a SeldonDeployment.
func overrideMessage(s *workload.SeldonScale) string {
	if s == nil {
		return ""
	}
	return s.OverrideMessage()
}

// seldonPods keeps the pods of the Deployment that stands for the SeldonDeployment's replicas
// (workload.SeldonScale.Counted); pods is returned as is for another kind of target.
func seldonPods(pods []corev1.Pod, s *workload.SeldonScale) []corev1.Pod {
	if s == nil {
		return pods
	}
	counted, ok := s.Counted()
	out := pods[:0]
	for _, p := range pods {
		d, own := workload.DeploymentOf(workload.Pod{Labels: p.Labels, Owners: p.OwnerReferences})
		if ok && own && d == counted.Deployment {
			out = append(out, p)
		}
	}
	return out
}

// seldonAutoscaled names a component Seldon's operator autoscales itself (an hpaSpec or a
// kedaSpec): the operator creates an HPA or a ScaledObject for it and never sets its replicas
// from spec.replicas, so the scaler holds as for an HPA, even before that HPA exists.
func seldonAutoscaled(s *workload.SeldonScale) string {
	if s == nil {
		return ""
	}
	for _, comp := range s.Overridden() {
		if comp.Replicas == workload.FromHPA || comp.Replicas == workload.FromKEDA {
			return fmt.Sprintf("the one Seldon creates from %s (it scales Deployment %s)", comp.Field, comp.Deployment)
		}
	}
	return ""
}

// seldonChild names the component of s whose Deployment an HPA's target names, if any.
func seldonChild(s *workload.SeldonScale, deployment string) (workload.SeldonComponent, bool) {
	if s == nil {
		return workload.SeldonComponent{}, false
	}
	for _, comp := range s.Components {
		if comp.Deployment == deployment {
			return comp, true
		}
	}
	return workload.SeldonComponent{}, false
}
