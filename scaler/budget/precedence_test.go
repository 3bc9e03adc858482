package budget

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// TestPrecedence checks the documented order, one rule against the next: the budget, then
// the policy's decision (min/max), then the unschedulable guard, then headroom.
func TestPrecedence(t *testing.T) {
	spec := (&v1alpha1.AutoscalingPolicySpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
		Headroom: &v1alpha1.HeadroomSpec{Replicas: ptr.To[int32](2)}}).Defaulted()
	// One policy of 1 GPU per replica under a budget of gpus; d is its decision.
	run := func(gpus int64, d Decided) Grant {
		demand, head, _ := Request(spec, d)
		res := Allocate(Budget{Name: "b", Resource: v1alpha1.GPUResourceName, Max: gpus * gpuUnits}, []Claim{{
			Name: "ai/llama", Min: *spec.MinReplicas, Max: spec.MaxReplicas, Current: d.Current,
			Demand: demand, Headroom: head, Cost: gpuUnits,
		}})
		return res.Grants[0]
	}
	tests := []struct {
		name string
		gpus int64
		d    Decided
		want int32
		rule Rule
	}{
		{"budget over decision: the demand is trimmed to what the budget holds", 5, Decided{Current: 4, Desired: 8}, 5, RuleBudget},
		{"budget over decision, but never below minReplicas", 1, Decided{Current: 4, Desired: 8}, 2, RuleMinimums},
		{"decision over headroom: maxReplicas caps the headroom", 20, Decided{Current: 9, Desired: 9}, 10, RuleNone},
		{"guard over headroom: no new spare replica while a pod is unschedulable", 20, Decided{Current: 4, Desired: 4, Unschedulable: true}, 4, RuleNone},
		{"headroom last: a short budget gives it up before the demand", 7, Decided{Current: 4, Desired: 6}, 7, RuleHeadroom},
		{"with room, demand plus headroom", 20, Decided{Current: 4, Desired: 6}, 8, RuleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := run(tt.gpus, tt.d); g.Replicas != tt.want || g.Rule != tt.rule {
				t.Fatalf("granted %d by rule %q (%s), want %d by %q", g.Replicas, g.Rule, g.Reason, tt.want, tt.rule)
			}
		})
	}
}
