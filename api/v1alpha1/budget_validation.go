package v1alpha1

import (
	"fmt"
	"regexp"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Bounds of the budget fields and of the budgeting fields of a policy.
const (
	maxPriority        = 1_000_000_000
	maxHeadroomPercent = 1000
	maxHeadroomCount   = 1000
	// MaxBudgetPolicies is how many policies one budget lists in its status;
	// the allocation covers them all.
	MaxBudgetPolicies = 256
)

// MaxBudgetAmount bounds a budget's max and min, in the budget's resource:
// 2^50 cores, bytes or GPU slices keeps every sum of requests exact in int64.
var MaxBudgetAmount = resource.NewQuantity(1<<50, resource.DecimalSI)

// migProfile matches the extended resources of NVIDIA's device plugin under
// the MIG "mixed" strategy, e.g. nvidia.com/mig-1g.10gb or
// nvidia.com/mig-1g.5gb+me: the compute slices (1..7) and the memory.
var migProfile = regexp.MustCompile(`^nvidia\.com/mig-([1-7])g\.([0-9]{1,4})gb(\+me)?$`)

// MIGComputeSlices returns the compute slices of a MIG profile resource
// (nvidia.com/mig-3g.40gb: 3), and false for any other resource name.
func MIGComputeSlices(name corev1.ResourceName) (int, bool) {
	m := migProfile.FindStringSubmatch(string(name))
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return n, true
}

// ValidateAutoscalingBudget returns every problem of the budget at once, each
// at the exact path of its field, as the validating webhook answers them.
func ValidateAutoscalingBudget(b *AutoscalingBudget) field.ErrorList {
	var errs field.ErrorList
	if b.Namespace != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "namespace"), "AutoscalingBudget is cluster-scoped"))
	}
	return append(errs, ValidateBudgetSpec(&b.Spec, field.NewPath("spec"))...)
}

// ValidateBudgetSpec validates a budget spec found at fldPath.
func ValidateBudgetSpec(s *AutoscalingBudgetSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	supported := []string{string(GPUResourceName), "nvidia.com/mig-<slices>g.<memory>gb", string(corev1.ResourceCPU), string(corev1.ResourceMemory)}
	switch _, mig := MIGComputeSlices(s.Resource); {
	case s.Resource == "":
		errs = append(errs, field.Required(fldPath.Child("resource"), "the resource to count, e.g. nvidia.com/gpu"))
	case mig, s.Resource == GPUResourceName, s.Resource == corev1.ResourceCPU, s.Resource == corev1.ResourceMemory:
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("resource"), s.Resource, supported))
	}
	errs = append(errs, amount(s.Max, false, fldPath.Child("max"))...)
	if s.Min != nil {
		errs = append(errs, amount(*s.Min, true, fldPath.Child("min"))...)
		if s.Min.Cmp(s.Max) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("min"), s.Min.String(), fmt.Sprintf("must not exceed max (%s)", s.Max.String())))
		}
	}
	opts := metav1validation.LabelSelectorValidationOptions{}
	if s.NamespaceSelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.NamespaceSelector, opts, fldPath.Child("namespaceSelector"))...)
	}
	if s.PolicySelector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.PolicySelector, opts, fldPath.Child("policySelector"))...)
	}
	return errs
}

func amount(q resource.Quantity, zeroOK bool, fldPath *field.Path) field.ErrorList {
	switch {
	case q.Sign() < 0 || (!zeroOK && q.Sign() == 0):
		if zeroOK {
			return field.ErrorList{field.Invalid(fldPath, q.String(), "must not be negative")}
		}
		return field.ErrorList{field.Invalid(fldPath, q.String(), "must be greater than 0")}
	case q.Cmp(*MaxBudgetAmount) > 0:
		return field.ErrorList{field.Invalid(fldPath, q.String(), fmt.Sprintf("must be at most %s", MaxBudgetAmount.String()))}
	}
	return nil
}

// validateBudgeting validates the fields of a policy that budgets read.
func validateBudgeting(s *AutoscalingPolicySpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if p := s.Priority; p != nil && (*p < 0 || *p > maxPriority) {
		errs = append(errs, field.Invalid(fldPath.Child("priority"), *p, fmt.Sprintf("must be between 0 and %d", maxPriority)))
	}
	if h := s.Headroom; h != nil {
		p := fldPath.Child("headroom")
		if v := h.Percent; v != nil && (*v < 0 || *v > maxHeadroomPercent) {
			errs = append(errs, field.Invalid(p.Child("percent"), *v, fmt.Sprintf("must be between 0 and %d (percent of the demanded replicas)", maxHeadroomPercent)))
		}
		if v := h.Replicas; v != nil && (*v < 0 || *v > maxHeadroomCount) {
			errs = append(errs, field.Invalid(p.Child("replicas"), *v, fmt.Sprintf("must be between 0 and %d", maxHeadroomCount)))
		}
	}
	return errs
}
