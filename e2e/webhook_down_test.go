//go:build e2e

package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/webhook/optin"
)

// With the webhook down, opted-in pods still start (without the agent: the injector's
// failurePolicy is Ignore), a policy the schema refuses is still refused with its field
// path (the CRD's schema and CEL rules), and a policy only the webhook could check is
// refused rather than admitted unchecked (the validator's failurePolicy is Fail).
func TestWebhookDownPodsStartAndPoliciesStillValidated(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	scaleWebhook(t, 0)
	t.Cleanup(func() { scaleWebhook(t, 2); waitWebhookAnswers(t) })

	createDeployment(t, ns, modelDeployment("while-down", 1, nil, map[string]string{optin.AnnotationInject: "true"}))
	wantAgent(t, readyPods(t, ns, "while-down", 1), false)

	out, err := applyManifest(t, policyManifest(ns, "schema", "Deployment", "apps/v1", "llama",
		"  - type: Latency", "    latency: {percentile: 150, target: 500ms}"))
	if err == nil || !strings.Contains(out, "spec.metrics[1].latency.percentile") {
		t.Errorf("a policy breaking the schema while the webhook is down: err %v, want refused naming its field:\n%s", err, out)
	}
	out, err = applyManifest(t, policyManifest(ns, "valid", "Deployment", "apps/v1", "llama"))
	if err == nil || !strings.Contains(out, "validate.autoscalingpolicy.inferscale.io") {
		t.Errorf("a policy while the validator is down: err %v, want refused for the failed webhook call:\n%s", err, out)
	}
}

// scaleWebhook sets the webhook's replicas and waits until that many are ready (for 0:
// until no pod is left).
func scaleWebhook(t *testing.T, replicas int32) {
	t.Helper()
	ctx := context.Background()
	deployments := testCluster.Client.AppsV1().Deployments(install.Namespace)
	scale, err := deployments.GetScale(ctx, "inferscale-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("webhook scale: %v", err)
	}
	scale.Spec.Replicas = replicas
	if _, err := deployments.UpdateScale(ctx, "inferscale-webhook", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale the webhook to %d: %v", replicas, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := deployments.Get(ctx, "inferscale-webhook", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if replicas == 0 {
			pods, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=inferscale-webhook"})
			return err == nil && len(pods.Items) == 0, err
		}
		return d.Status.ReadyReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("the webhook did not reach %d replicas: %v", replicas, err)
	}
}

// waitWebhookAnswers waits until the validating webhook refuses a policy only it
// refuses. It runs in a cleanup, after t.Context() is done.
func waitWebhookAnswers(t *testing.T) {
	t.Helper()
	f, err := os.CreateTemp("", "inferscale-probe-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	path := f.Name()
	_, err = f.WriteString(policyManifest("default", "answers-probe", "Deployment", "apps/v1", "Not_A_DNS_Name"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		out, _ := testCluster.Kubectl(ctx, "create", "--dry-run=server", "-f", path)
		return strings.Contains(string(out), "spec.targetRef.name"), nil
	})
	if err != nil {
		t.Errorf("the webhook did not answer again: %v", err)
	}
}
