package v1alpha1

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func cond(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: reason + " message"}
}

func TestReadyCondition(t *testing.T) {
	T, F := metav1.ConditionTrue, metav1.ConditionFalse
	cases := []struct {
		name       string
		conds      []metav1.Condition
		status     metav1.ConditionStatus
		reason     string
		keepsWhose string // the condition whose message Ready repeats
	}{
		{"no decision yet", nil, metav1.ConditionUnknown, ReasonPending, ""},
		{"scaling", []metav1.Condition{cond(AbleToScale, T, ReasonReadyForNewScale), cond(ScalingActive, T, ReasonValidMetricFound), cond(ScalingLimited, T, ReasonTooManyReplicas)},
			T, ReasonScaling, ScalingActive},
		{"an HPA holds it", []metav1.Condition{cond(AbleToScale, F, ReasonHPAConflict), cond(ScalingActive, T, ReasonValidMetricFound)}, F, ReasonHPAConflict, AbleToScale},
		{"no metric", []metav1.Condition{cond(AbleToScale, T, ReasonSucceededGetScale), cond(ScalingActive, F, ReasonFailedGetAgentMetric)}, F, ReasonFailedGetAgentMetric, ScalingActive},
		{"target unreadable wins over metrics", []metav1.Condition{cond(ScalingActive, F, ReasonFailedGetAgentMetric), cond(AbleToScale, F, ReasonFailedGetScale)}, F, ReasonFailedGetScale, AbleToScale},
		{"windows filling", []metav1.Condition{cond(AbleToScale, T, ReasonSucceededGetScale), cond(ScalingActive, F, ReasonIncompleteWindow)}, metav1.ConditionUnknown, ReasonIncompleteWindow, ScalingActive},
		{"paused, whatever the metrics", []metav1.Condition{cond(AbleToScale, F, ReasonPaused), cond(ScalingActive, F, ReasonFailedGetAgentMetric)}, T, ReasonPaused, AbleToScale},
		{"recommend-only", []metav1.Condition{cond(AbleToScale, T, ReasonRecommendOnly), cond(ScalingActive, T, ReasonValidMetricFound)}, T, ReasonRecommendOnly, AbleToScale},
		{"recommend-only with a failing metric", []metav1.Condition{cond(AbleToScale, T, ReasonRecommendOnly), cond(ScalingActive, F, ReasonFailedGetResourceMetric)}, F, ReasonFailedGetResourceMetric, ScalingActive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadyCondition(tc.conds)
			if got.Type != Ready || got.Status != tc.status || got.Reason != tc.reason {
				t.Fatalf("Ready = %s %s, want %s %s", got.Status, got.Reason, tc.status, tc.reason)
			}
			if tc.keepsWhose != "" {
				for _, c := range tc.conds {
					if c.Type == tc.keepsWhose && got.Message != c.Message {
						t.Errorf("message %q, want %s's %q", got.Message, c.Type, c.Message)
					}
				}
			}
		})
	}
}

func TestModeAnnotationsAreTrueOrFalse(t *testing.T) {
	for value, wantErr := range map[string]bool{"true": false, "false": false, "yes": true, "": true, "True": true} {
		p := &AutoscalingPolicy{Spec: validSpec()}
		p.Annotations = map[string]string{PausedAnnotation: value, RecommendOnlyAnnotation: "false"}
		errs := ValidateAutoscalingPolicy(p)
		if got := len(errs) > 0; got != wantErr {
			t.Errorf("%s: %q: errors %v", PausedAnnotation, value, errs)
		}
		if wantErr && (errs[0].Type != field.ErrorTypeNotSupported || errs[0].Field != "metadata.annotations[inferscale.io/paused]") {
			t.Errorf("error %v, want NotSupported at metadata.annotations[inferscale.io/paused]", errs[0])
		}
	}
}
