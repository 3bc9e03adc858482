package demo

import (
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
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
