package v1alpha1

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func errFields(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestValidateAutoscalingBudget(t *testing.T) {
	valid := func() *AutoscalingBudget {
		return &AutoscalingBudget{ObjectMeta: metav1.ObjectMeta{Name: "gpu-team-a"}, Spec: AutoscalingBudgetSpec{
			Resource: GPUResourceName, Max: resource.MustParse("12"),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		}}
	}
	tests := []struct {
		name   string
		mutate func(*AutoscalingBudget)
		want   []string
	}{
		{"valid", func(*AutoscalingBudget) {}, nil},
		{"cpu, memory and MIG profiles are supported", func(b *AutoscalingBudget) { b.Spec.Resource = "nvidia.com/mig-1g.10gb+me" }, nil},
		{"min up to max", func(b *AutoscalingBudget) { b.Spec.Min = ptr.To(resource.MustParse("12")) }, nil},
		{"an unknown resource", func(b *AutoscalingBudget) { b.Spec.Resource = "amd.com/gpu" }, []string{"spec.resource"}},
		{"no resource", func(b *AutoscalingBudget) { b.Spec.Resource = "" }, []string{"spec.resource"}},
		{"a MIG profile of 8 slices", func(b *AutoscalingBudget) { b.Spec.Resource = "nvidia.com/mig-8g.80gb" }, []string{"spec.resource"}},
		{"zero max", func(b *AutoscalingBudget) { b.Spec.Max = resource.MustParse("0") }, []string{"spec.max"}},
		{"a huge max", func(b *AutoscalingBudget) { b.Spec.Max = resource.MustParse("1e18") }, []string{"spec.max"}},
		{"min above max", func(b *AutoscalingBudget) { b.Spec.Min = ptr.To(resource.MustParse("13")) }, []string{"spec.min"}},
		{"negative min", func(b *AutoscalingBudget) { b.Spec.Min = ptr.To(resource.MustParse("-1")) }, []string{"spec.min"}},
		{"a bad selector", func(b *AutoscalingBudget) {
			b.Spec.PolicySelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In"}}}
		}, []string{"spec.policySelector.matchExpressions[0].values"}},
		{"namespaced", func(b *AutoscalingBudget) { b.Namespace = "ai" }, []string{"metadata.namespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.mutate(b)
			if got := errFields(ValidateAutoscalingBudget(b)); !slices.Equal(got, tt.want) {
				t.Fatalf("errors at %q, want %q: %v", got, tt.want, ValidateAutoscalingBudget(b))
			}
		})
	}
}

func TestValidateBudgetingFieldsOfAPolicy(t *testing.T) {
	s := validSpec()
	s.Priority = ptr.To[int32](-1)
	s.Headroom = &HeadroomSpec{Percent: ptr.To[int32](1001), Replicas: ptr.To[int32](-1)}
	want := []string{"spec.priority", "spec.headroom.percent", "spec.headroom.replicas"}
	if got := errFields(ValidateSpec(&s, field.NewPath("spec"))); !slices.Equal(got, want) {
		t.Fatalf("errors at %q, want %q", got, want)
	}
	s.Priority, s.Headroom = ptr.To[int32](100), &HeadroomSpec{Percent: ptr.To[int32](20), Replicas: ptr.To[int32](1)}
	if errs := ValidateSpec(&s, field.NewPath("spec")); len(errs) > 0 {
		t.Fatalf("valid budgeting fields refused: %v", errs)
	}
	v := validSpec()
	if d := v.Defaulted(); *d.Priority != DefaultPriority || d.Preemptible || d.Headroom != nil {
		t.Fatalf("defaults: priority %d preemptible %v headroom %v", *d.Priority, d.Preemptible, d.Headroom)
	}
}

func TestMIGComputeSlices(t *testing.T) {
	for name, want := range map[string]int{"nvidia.com/mig-1g.10gb": 1, "nvidia.com/mig-3g.40gb": 3, "nvidia.com/mig-7g.80gb": 7, "nvidia.com/mig-1g.5gb+me": 1, "nvidia.com/gpu": 0, "nvidia.com/mig-1g": 0} {
		if got, ok := MIGComputeSlices(corev1.ResourceName(name)); got != want || ok != (want > 0) {
			t.Errorf("%s: %d %v, want %d", name, got, ok, want)
		}
	}
}
