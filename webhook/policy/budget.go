package policy

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// BudgetValidator validates AutoscalingBudget creates and updates with the
// API's validation, every field error at once. A budget needs no state of
// the API server to be valid: what it covers is read by the scaler.
type BudgetValidator struct{}

var _ admission.Handler = BudgetValidator{}

var budgetGroupKind = v1alpha1.GroupVersion.WithKind("AutoscalingBudget").GroupKind()

// Handle implements admission.Handler.
func (BudgetValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	b, errs := decodeStrict[v1alpha1.AutoscalingBudget](req.Object.Raw)
	if b == nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the AutoscalingBudget: %w", errs.ToAggregate()))
	}
	errs = append(errs, v1alpha1.ValidateAutoscalingBudget(b)...)
	if len(errs) > 0 {
		return refuse(budgetGroupKind, b.Name, req, errs)
	}
	return admission.Allowed("")
}
