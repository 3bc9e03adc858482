package demo

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/scenario"
)

// TestRenderedPolicyIsValid keeps the demo's policy within what the webhook
// admits, so the demo never fails at apply time.
func TestRenderedPolicyIsValid(t *testing.T) {
	out, err := Render(Options{Namespace: "demo", ModelImage: "model:dev", TargetP99: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 4 {
		t.Fatalf("want namespace, deployment, service, policy; got %d documents", len(docs))
	}
	var p v1alpha1.AutoscalingPolicy
	if err := yaml.UnmarshalStrict([]byte(docs[3]), &p); err != nil {
		t.Fatal(err)
	}
	if errs := v1alpha1.ValidateAutoscalingPolicy(&p); len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	if p.Spec.Metrics[0].Latency.Target.Duration != 300*time.Millisecond {
		t.Fatalf("target not rendered: %v", p.Spec.Metrics[0].Latency.Target)
	}
}

func TestProfileDuration(t *testing.T) {
	d, err := profileDuration("20s@2, 40s@60,1m@0")
	if err != nil || d != 2*time.Minute {
		t.Fatalf("got %s, %v", d, err)
	}
	if _, err := profileDuration("20s"); err == nil {
		t.Fatal("a step without a rate was accepted")
	}
}

// TestSimulatorKnowsTheDemoPolicy keeps the simulator's copy of the demo's policy (what
// `inferscale simulate --model e2e` runs and the sim-to-real test checks) equal to the one
// the demo applies.
func TestSimulatorKnowsTheDemoPolicy(t *testing.T) {
	out, err := Render(Options{Namespace: "inferscale-demo", ModelImage: "model:dev", TargetP99: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var p v1alpha1.AutoscalingPolicy
	if err := yaml.UnmarshalStrict([]byte(strings.Split(out, "\n---\n")[3]), &p); err != nil {
		t.Fatal(err)
	}
	m := model.Presets["e2e"]
	simulated, err := scenario.DefaultPolicy(&m)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(p.Spec, *simulated) {
		t.Errorf("sim/scenario/demo.yaml differs from the demo's policy:\n%+v\n%+v", *simulated, p.Spec)
	}
}

// The reason column is the scaler's current state from the policy's status: a hold shows as a
// hold, not as the last rescale's Event.
func TestStatusReason(t *testing.T) {
	p := &v1alpha1.AutoscalingPolicy{Status: v1alpha1.AutoscalingPolicyStatus{
		DrivingMetric: "QueueDepth",
		Conditions: []metav1.Condition{
			{Type: v1alpha1.AbleToScale, Status: metav1.ConditionTrue, Reason: "ScaleDownStabilized", Message: "recent recommendations were higher than current one"},
			{Type: v1alpha1.ScalingActive, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonValidMetricFound, Message: "the autoscaler computed a replica count"},
			{Type: v1alpha1.ScalingLimited, Status: metav1.ConditionTrue, Reason: "TooManyReplicas", Message: "the desired replica count is more than the maximum replica count"},
		},
	}}
	want := "recent recommendations were higher than current one; the desired replica count is more than the maximum replica count; driven by QueueDepth"
	if got := statusReason(p); got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	p.Status.Conditions[2].Status = metav1.ConditionFalse
	p.Status.Conditions[1] = metav1.Condition{Type: v1alpha1.ScalingActive, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonFailedGetAgentMetric, Message: "no agent reports"}
	if got := statusReason(p); !strings.Contains(got, "no agent reports") || strings.Contains(got, "maximum") {
		t.Errorf("reason %q: want the failing metric, not a limit that no longer holds", got)
	}
}
