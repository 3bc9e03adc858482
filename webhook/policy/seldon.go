package policy

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/workload"
)

// seldonWarnings says, for a SeldonDeployment target, what keeps the scaler from scaling it
// through spec.replicas (its /scale): a predictor's or componentSpec's own replicas, which
// Seldon's operator prefers, or an hpaSpec/kedaSpec, whose autoscaler Seldon creates. The
// scaler holds in both cases; telling it at apply time saves the user a look at the status.
// A target not yet created, or a webhook without a reader for it, warns of nothing.
func (v *Validator) seldonWarnings(ctx context.Context, namespace string, gvk schema.GroupVersionKind, name string) []string {
	if gvk.GroupKind() != workload.SeldonDeployment || v.Targets == nil {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	err := v.Targets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u)
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return nil
	case err != nil:
		return []string{fmt.Sprintf("could not check how SeldonDeployment %s sets its replicas: %v", name, err)}
	}
	spec, _ := u.Object["spec"].(map[string]any)
	s, err := workload.SeldonScaleOf(name, spec)
	if err != nil {
		return []string{fmt.Sprintf("could not check how SeldonDeployment %s sets its replicas: %v", name, err)}
	}
	var out []string
	if msg := s.OverrideMessage(); msg != "" {
		out = append(out, fmt.Sprintf("%s (until then the policy's status shows AbleToScale=False, reason %s)", msg, v1alpha1.ReasonSeldonReplicasOverridden))
	}
	for _, c := range s.Overridden() {
		if c.Replicas == workload.FromHPA || c.Replicas == workload.FromKEDA {
			out = append(out, fmt.Sprintf("SeldonDeployment %s sets %s, so Seldon autoscales Deployment %s itself: inferscale will not scale it "+
				"(AbleToScale=False, reason %s) until that is removed", name, c.Field, c.Deployment, v1alpha1.ReasonHPAConflict))
		}
	}
	return out
}
