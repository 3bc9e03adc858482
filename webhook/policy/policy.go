// Package policy is the validating admission handler of AutoscalingPolicy:
// the API's own validation, every field error at once, plus the checks that
// need the API server's state (one policy per target, a target that can be
// scaled, an HPA already scaling the target); and that of AutoscalingBudget,
// whose checks are the API's own.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/workload"
)

// ScaleChecker says whether a kind has a /scale subresource.
type ScaleChecker interface {
	// HasScale reports whether the API server knows the kind and, if it does,
	// whether the kind has a /scale subresource.
	HasScale(ctx context.Context, gvk schema.GroupVersionKind) (known, scalable bool, err error)
}

// Validator validates AutoscalingPolicy creates and updates.
type Validator struct {
	// Reader lists policies and HPAs; an informer cache in production.
	Reader client.Reader
	// Scales answers whether a target kind can be scaled.
	Scales ScaleChecker
	// Access checks that the requesting user may update the target's /scale. Required: a
	// Validator without it refuses every policy whose spec changes.
	Access *ScaleAccess
	// Targets reads a SeldonDeployment target's spec, to warn when the scaler could not scale
	// it; the API server in production (the cache holds owners as metadata only, and policies
	// are created rarely). Nil skips that warning.
	Targets client.Reader
	// MaxReplicas is the cluster-wide ceiling of spec.maxReplicas; 0 is DefaultMaxReplicas.
	MaxReplicas int32
	// Workloads reads the target for the ModelMetric warnings, and Inject is the webhook's
	// sidecar template they inject with; without them only the gauges' names are checked.
	Workloads Workloads
	Inject    *inject.Config
}

// DefaultMaxReplicas is the default ceiling of spec.maxReplicas (the webhook's
// --max-replicas-ceiling).
const DefaultMaxReplicas = v1alpha1.DefaultMaxReplicasCeiling

var _ admission.Handler = (*Validator)(nil)

var policyGroupKind = v1alpha1.GroupVersion.WithKind("AutoscalingPolicy").GroupKind()

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	p, errs := decodeStrict[v1alpha1.AutoscalingPolicy](req.Object.Raw)
	if p == nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the AutoscalingPolicy: %w", errs.ToAggregate()))
	}
	errs = append(errs, v1alpha1.ValidateAutoscalingPolicy(p)...)
	// Advice on a risky spec only makes sense for a valid one.
	var warnings []string
	if len(errs) == 0 {
		warnings = v1alpha1.Warnings(&p.Spec)
	}

	// The API server's state matters when the target is new: on create, or
	// when an update retargets the policy. Re-checking on every update would
	// refuse unrelated edits of a policy whose conflict arose later.
	if targetChanged(req, p) && len(errs.Filter(isTargetRefError)) == len(errs) {
		stateErrs, stateWarnings := v.checkState(ctx, req.Namespace, p)
		errs = append(errs, stateErrs...)
		warnings = append(warnings, stateWarnings...)
	}
	ceiling := v.MaxReplicas
	if ceiling <= 0 {
		ceiling = DefaultMaxReplicas
	}
	if p.Spec.MaxReplicas > ceiling {
		errs = append(errs, field.Invalid(field.NewPath("spec", "maxReplicas"), p.Spec.MaxReplicas,
			fmt.Sprintf("exceeds this cluster's ceiling of %d (the webhook's --max-replicas-ceiling)", ceiling)))
	}
	// Whoever changes the spec decides what the scaler does with its own rights, so they
	// must hold them: update of the target's /scale. A change of labels or annotations alone
	// changes nothing the scaler does.
	if specChanged(req, p) && len(errs.Filter(isTargetRefError)) == len(errs) {
		if err := v.checkAccess(ctx, req, p); err != nil {
			if fe, ok := err.(*field.Error); ok {
				errs = append(errs, fe)
			} else {
				return admission.Errored(http.StatusInternalServerError, err)
			}
		}
	}
	if len(errs) > 0 {
		return refuse(policyGroupKind, p.Name, req, errs).WithWarnings(warnings...)
	}
	if specChanged(req, p) {
		warnings = append(warnings, v.modelMetricWarnings(ctx, req.Namespace, p)...)
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// checkAccess returns a *field.Error when the user may not update the target's /scale, and
// another error when that cannot be checked (the policy is then refused: failing open would
// lend the scaler's rights whenever the API server is slow).
func (v *Validator) checkAccess(ctx context.Context, req admission.Request, p *v1alpha1.AutoscalingPolicy) error {
	if v.Access == nil {
		return errors.New("no access check configured: cannot verify that the user may update the target's /scale")
	}
	ref := p.Spec.Target()
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil // already reported by the static validation
	}
	why, err := v.Access.denial(ctx, req.UserInfo, req.Namespace, gv.WithKind(ref.Kind), ref.Name)
	if err != nil {
		return err
	}
	if why != "" {
		return field.Forbidden(field.NewPath("spec", p.Spec.TargetField()), why)
	}
	return nil
}

func specChanged(req admission.Request, p *v1alpha1.AutoscalingPolicy) bool {
	if req.Operation == admissionv1.Create {
		return true
	}
	old, _ := decodeStrict[v1alpha1.AutoscalingPolicy](req.OldObject.Raw)
	return old == nil || !equality.Semantic.DeepEqual(old.Spec, p.Spec)
}

// refuse answers errs as the API server's own validation does: 422 Invalid, every field.
func refuse(gk schema.GroupKind, name string, req admission.Request, errs field.ErrorList) admission.Response {
	if name == "" {
		name = req.Name
	}
	status := apierrors.NewInvalid(gk, name, errs).ErrStatus
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &status}}
}

// isTargetRefError is true for errors under spec.targetRef (or its HPA name
// spec.scaleTargetRef): with those the target cannot be looked up.
func isTargetRefError(err error) bool {
	fe, ok := err.(*field.Error)
	return ok && (strings.HasPrefix(fe.Field, "spec.targetRef") || strings.HasPrefix(fe.Field, "spec.scaleTargetRef"))
}

// decodeStrict decodes the object and lists unknown and duplicate fields as
// field errors; a nil object means the JSON could not be decoded at all.
func decodeStrict[T any](raw []byte) (*T, field.ErrorList) {
	var p T
	strict, err := sigsjson.UnmarshalStrict(raw, &p)
	if err != nil {
		return nil, field.ErrorList{field.InternalError(nil, err)}
	}
	var errs field.ErrorList
	for _, e := range strict {
		path := ""
		if fe, ok := e.(sigsjson.FieldError); ok {
			path = fe.FieldPath()
		}
		errs = append(errs, field.Forbidden(field.NewPath(path), e.Error()))
	}
	return &p, errs
}

func targetChanged(req admission.Request, p *v1alpha1.AutoscalingPolicy) bool {
	if req.Operation == admissionv1.Create {
		return true
	}
	old, _ := decodeStrict[v1alpha1.AutoscalingPolicy](req.OldObject.Raw)
	return old == nil || old.Spec.Target() != p.Spec.Target()
}

// checkState refuses a second policy for a target and a kind that cannot be
// scaled, and warns about an HPA on the target.
//
// An HPA is a warning, not a refusal: the conflict can arise in either order
// and admission only sees one of them (an HPA created after the policy passes
// no inferscale webhook), so the scaler must detect it at run time anyway. It
// does, and holds the target (AbleToScale=False) instead of fighting the HPA,
// so nothing flaps while both exist. Refusing would also break the documented
// migration (apply the policy, then delete the HPA) and GitOps syncs that
// apply both changes in no fixed order.
//
// Reading the state can fail (a cache not synced yet); the policy is then
// admitted with a warning: the static validation already ran, and the
// scaler's run-time checks remain.
func (v *Validator) checkState(ctx context.Context, namespace string, p *v1alpha1.AutoscalingPolicy) (field.ErrorList, []string) {
	log := logf.FromContext(ctx).WithValues("policy", namespace+"/"+p.Name)
	ref := p.Spec.Target()
	refPath := field.NewPath("spec", p.Spec.TargetField())
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, nil // already reported by the static validation
	}
	gvk := gv.WithKind(ref.Kind)
	target := ref.Kind + " " + ref.Name
	var errs field.ErrorList
	var warnings []string

	var policies v1alpha1.AutoscalingPolicyList
	if err := v.Reader.List(ctx, &policies, client.InNamespace(namespace)); err != nil {
		log.Error(err, "listing policies")
		warnings = append(warnings, fmt.Sprintf("could not check for another AutoscalingPolicy targeting %s: %v", target, err))
	}
	for _, other := range policies.Items {
		if other.Name != p.Name && other.DeletionTimestamp == nil && workload.Targets(other.Spec.Target(), gvk.GroupKind(), ref.Name) {
			errs = append(errs, field.Forbidden(refPath, fmt.Sprintf("%s is already scaled by AutoscalingPolicy %s: a target has one policy; edit or delete that one", target, other.Name)))
			break
		}
	}

	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := v.Reader.List(ctx, &hpas, client.InNamespace(namespace)); err != nil {
		log.Error(err, "listing HorizontalPodAutoscalers")
		warnings = append(warnings, fmt.Sprintf("could not check for a HorizontalPodAutoscaler on %s: %v", target, err))
	}
	for _, h := range hpas.Items {
		r := h.Spec.ScaleTargetRef
		if workload.Targets(v1alpha1.CrossVersionObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name}, gvk.GroupKind(), ref.Name) {
			warnings = append(warnings, fmt.Sprintf("HorizontalPodAutoscaler %s already scales %s: inferscale will not scale it "+
				"(its status shows AbleToScale=False, reason HPAConflict) until that HPA is deleted", h.Name, target))
		}
	}

	warnings = append(warnings, v.seldonWarnings(ctx, namespace, gvk, ref.Name)...)

	if v.Scales != nil {
		known, scalable, err := v.Scales.HasScale(ctx, gvk)
		switch {
		case err != nil:
			log.Error(err, "checking the target's /scale subresource", "target", gvk.String())
			warnings = append(warnings, fmt.Sprintf("could not check that %s has a /scale subresource: %v", ref.Kind, err))
		case known && !scalable:
			errs = append(errs, field.Invalid(refPath.Child("kind"), ref.Kind,
				fmt.Sprintf("%s has no /scale subresource, so it cannot be scaled", gvk.GroupKind())))
		}
		// Unknown kinds pass: a policy may be applied before the CRD of its
		// target (a ModelInfer, a SeldonDeployment) is installed.
	}
	return errs, warnings
}
