package budget

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

func TestRequest(t *testing.T) {
	spec := func(percent, replicas *int32) *v1alpha1.AutoscalingPolicySpec {
		s := (&v1alpha1.AutoscalingPolicySpec{MaxReplicas: 10}).Defaulted()
		if percent != nil || replicas != nil {
			s.Headroom = &v1alpha1.HeadroomSpec{Percent: percent, Replicas: replicas}
		}
		return s
	}
	tests := []struct {
		name                 string
		spec                 *v1alpha1.AutoscalingPolicySpec
		in                   Decided
		wantDemand, wantHead int32
		wantNote             string
	}{
		{name: "no headroom", spec: spec(nil, nil), in: Decided{Current: 3, Desired: 4}, wantDemand: 4},
		{name: "percent rounds up", spec: spec(ptr.To[int32](20), nil), in: Decided{Current: 3, Desired: 6}, wantDemand: 6, wantHead: 2},
		{name: "the larger of percent and count", spec: spec(ptr.To[int32](10), ptr.To[int32](2)), in: Decided{Current: 3, Desired: 4}, wantDemand: 4, wantHead: 2},
		{name: "within maxReplicas", spec: spec(nil, ptr.To[int32](3)), in: Decided{Current: 8, Desired: 9}, wantDemand: 9, wantHead: 1,
			wantNote: "headroom 1 of 3: limited by maxReplicas 10"},
		{name: "unschedulable: no new spare replica", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 4, Desired: 4, Unschedulable: true}, wantDemand: 4,
			wantNote: "headroom 0 of 2: no new spare replica while a pod is unschedulable"},
		{name: "unschedulable: running spare replicas are kept", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 5, Desired: 4, Unschedulable: true}, wantDemand: 4, wantHead: 1,
			wantNote: "while a pod is unschedulable"},
		{name: "a held decision adds no spare replica", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 4, Desired: 4, Hold: true}, wantDemand: 4,
			wantNote: "headroom 0 of 2: no new spare replica while the decision holds the count"},
		{name: "burst uses the spare replicas first", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 6, Desired: 5, Burst: true}, wantDemand: 5, wantHead: 1,
			wantNote: "headroom 1 of 2: burst mode uses the spare replicas before adding new ones"},
		{name: "burst beyond the spare replicas asks only for the demand", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 6, Desired: 8, Burst: true}, wantDemand: 8,
			wantNote: "burst mode"},
		{name: "a kept count keeps its spare replicas spare", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 6, Desired: 6, Spare: 2}, wantDemand: 4, wantHead: 2},
		{name: "a new count is all demand", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 6, Desired: 5, Spare: 2}, wantDemand: 5, wantHead: 2},
		{name: "after the burst the headroom comes back", spec: spec(nil, ptr.To[int32](2)), in: Decided{Current: 8, Desired: 8}, wantDemand: 8, wantHead: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, h, note := Request(tt.spec, tt.in)
			if d != tt.wantDemand || h != tt.wantHead || (tt.wantNote == "") != (note == "") || !strings.Contains(note, tt.wantNote) {
				t.Fatalf("demand %d headroom %d note %q, want %d %d %q", d, h, note, tt.wantDemand, tt.wantHead, tt.wantNote)
			}
		})
	}
}
