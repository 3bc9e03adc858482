package policy

import (
	"context"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

const validBudget = `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingBudget
metadata: {name: gpu-team-a}
spec:
  resource: nvidia.com/gpu
  max: 12
  namespaceSelector: {matchLabels: {team: a}}
`

func TestBudgetValidator(t *testing.T) {
	tests := []struct {
		name        string
		op          admissionv1.Operation
		manifest    string
		wantAllowed bool
		wantCauses  []string
	}{
		{name: "valid budget", op: admissionv1.Create, manifest: validBudget, wantAllowed: true},
		{name: "delete passes", op: admissionv1.Delete, manifest: "{}", wantAllowed: true},
		{
			name: "every field error at once",
			op:   admissionv1.Update,
			manifest: strings.NewReplacer("nvidia.com/gpu", "nvidia.com/mig-9g.10gb", "max: 12", "max: 0\n  min: -1",
				"{matchLabels: {team: a}}", "{matchExpressions: [{key: team, operator: Sometimes}]}").Replace(validBudget),
			wantCauses: []string{"spec.resource", "spec.max", "spec.min", "spec.namespaceSelector.matchExpressions[0].operator"},
		},
		{
			name:       "unknown field",
			op:         admissionv1.Create,
			manifest:   strings.Replace(validBudget, "max: 12", "max: 12\n  maximum: 12", 1),
			wantCauses: []string{"spec.maximum"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := BudgetValidator{}.Handle(context.Background(), request(t, tt.op, tt.manifest, ""))
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed %v, want %v: %v", resp.Allowed, tt.wantAllowed, causes(resp))
			}
			var got []string
			for _, c := range causes(resp) {
				got = append(got, strings.SplitN(c, ": ", 2)[0])
			}
			if !slices.Equal(got, tt.wantCauses) {
				t.Errorf("causes %q, want fields %q", causes(resp), tt.wantCauses)
			}
		})
	}
}

func TestBudgetValidatorRefusesUndecodable(t *testing.T) {
	req := request(t, admissionv1.Create, validBudget, "")
	req.Object.Raw = []byte(`{"spec": 5}`)
	if resp := (BudgetValidator{}).Handle(context.Background(), req); resp.Allowed || resp.Result.Code != 400 {
		t.Fatalf("undecodable budget: %+v", resp.Result)
	}
}
