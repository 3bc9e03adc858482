//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Policies the CRD schema accepts but the API's validation refuses are refused by the
// validating webhook at apply time, every error at once, each with its field path. (kubectl
// prints an Invalid status from a webhook as it prints the API server's own; the schema has
// no rule for these fields, so only the webhook can have refused them.)
func TestWebhookRefusesInvalidPoliciesWithFieldPaths(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	cases := []struct {
		name       string
		manifest   string
		wantFields []string
	}{
		{
			name:       "target name is no DNS name",
			manifest:   policyManifest(ns, "bad-name", "Deployment", "apps/v1", "Not_A_DNS_Name"),
			wantFields: []string{"spec.targetRef.name"},
		},
		{
			name: "every error at once",
			manifest: policyManifest(ns, "many", "Deployment", "apps/v1", "llama",
				"  - type: ModelMetric", // continues spec.metrics
				"    modelMetric: {name: 'not a metric', averageValue: 1}",
				"  stableWindowSeconds: 20",
				"  burst: {windowSeconds: 30}",
				"  behavior:",
				"    scaleDown: {tolerance: '2'}",
			),
			wantFields: []string{"spec.burst.windowSeconds", "spec.behavior.scaleDown.tolerance", "spec.metrics[1].modelMetric.name"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := applyManifest(t, tc.manifest)
			if err == nil {
				t.Fatalf("kubectl apply accepted it:\n%s", out)
			}
			for _, f := range tc.wantFields {
				if !strings.Contains(out, f) {
					t.Errorf("the refusal does not name %s:\n%s", f, out)
				}
			}
		})
	}
}

// spec.scaleDownHold reaches the API server's storage (the CRD carries the field, nothing prunes
// it on the way), and a hold outside its bounds is refused with the field's path.
func TestPolicyScaleDownHoldIsStoredAndBounded(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	if out, err := applyManifest(t, policyManifest(ns, "hold", "Deployment", "apps/v1", "llama", "  scaleDownHold: {startDelays: 5}")); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	if got := kubectl(t, "get", "autoscalingpolicy", "hold", "-n", ns, "-o", "jsonpath={.spec.scaleDownHold.startDelays}"); got != "5" {
		t.Errorf("stored spec.scaleDownHold.startDelays %q, want 5", got)
	}
	out, err := applyManifest(t, policyManifest(ns, "hold-none", "Deployment", "apps/v1", "other", "  scaleDownHold: {startDelays: 0}"))
	if err == nil || !strings.Contains(out, "spec.scaleDownHold.startDelays") {
		t.Errorf("a hold of 0 start times: err %v\n%s", err, out)
	}
}

// The webhook checks the API server's state: one policy per target (naming the first),
// a known kind without /scale is refused, an unknown kind (a CRD not installed yet)
// passes, and an HPA on the target is a warning.
func TestWebhookPolicyStateChecks(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	if out, err := applyManifest(t, policyManifest(ns, "first", "Deployment", "apps/v1", "llama")); err != nil {
		t.Fatalf("first policy: %v\n%s", err, out)
	}
	// The webhook's informer sees the first policy within milliseconds; retry briefly
	// rather than race it.
	var out string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		var err error
		out, err = applyManifest(t, policyManifest(ns, "second", "Deployment", "apps/v1", "llama"), "--dry-run=server")
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("a second policy for the same Deployment was accepted:\n%s", out)
	}
	for _, want := range []string{"spec.targetRef", "AutoscalingPolicy first"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}

	out, err = applyManifest(t, policyManifest(ns, "svc", "Service", "v1", "llama"))
	if err == nil || !strings.Contains(out, "spec.targetRef.kind") || !strings.Contains(out, "/scale") {
		t.Errorf("a policy for a Service (no /scale): err %v\n%s", err, out)
	}
	out, err = applyManifest(t, policyManifest(ns, "modelinfer", "ModelInfer", "workload.matrixinfer.ai/v1alpha1", "llama"))
	if err != nil {
		t.Errorf("a policy for a kind whose CRD is not installed was refused: %v\n%s", err, out)
	}

	_, err = testCluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "hpa-target"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hpa-target"},
			MaxReplicas:    3,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create HPA: %v", err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		out, err = applyManifest(t, policyManifest(ns, "with-hpa", "Deployment", "apps/v1", "hpa-target"), "--dry-run=server")
		return err == nil && strings.Contains(out, "HorizontalPodAutoscaler hpa-target already scales"), nil
	})
	if err != nil {
		t.Errorf("a policy for a target an HPA scales: want accepted with a warning, got:\n%s", out)
	}
}
