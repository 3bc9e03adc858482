//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/scaler/controller"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

// The metrics Services reach the webhook's and the scaler's /metrics from a pod, as a
// ServiceMonitor would; the leader exports a policy's series under its namespace and name;
// injected pods carry the label a PodMonitor selects, and their agents export build info.
func TestMetricsServicesAndAgentLabel(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	createDeployment(t, ns, modelDeployment("llama", 1, nil, map[string]string{optin.AnnotationInject: "true"}))
	pods := readyPods(t, ns, "llama", 1)
	if got := pods[0].Labels[inject.LabelAgent]; got != "true" {
		t.Errorf("injected pod labels %v: want %s: \"true\"", pods[0].Labels, inject.LabelAgent)
	}
	if out, err := applyManifest(t, policyManifest(ns, "llama", "Deployment", "apps/v1", "llama")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, err := testCluster.Kubectl(t.Context(), "-n", ns, "get", "asp", "llama", "-o", "jsonpath={.status.desiredReplicas}")
		return err == nil && strings.TrimSpace(string(out)) != "", nil
	})
	if err != nil {
		t.Fatalf("the policy was never decided: %v", err)
	}

	ip := func(name string) string {
		svc, err := testCluster.Client.CoreV1().Services(install.Namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Spec.ClusterIP
	}
	leaders, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil || len(leaders.Items) != 1 {
		t.Fatalf("leader pods: %d (err %v), want one", len(leaders.Items), err)
	}
	out := runClientPod(t, ns,
		clusterURL(ip("inferscale-webhook-metrics"), 8080, "/metrics"),
		clusterURL(ip("inferscale-scaler-metrics"), 8080, "/metrics"),
		clusterURL(leaders.Items[0].Status.PodIP, 8080, "/metrics"),
		clusterURL(pods[0].Status.PodIP, 9090, "/metrics"))
	for _, want := range []string{
		`inferscale_build_info{binary="inferscale-webhook"`,
		`inferscale_build_info{binary="inferscale-scaler"`,
		`inferscale_build_info{binary="inferscale-agent"`,
		`inferscale_scaler_desired_replicas{namespace="` + ns + `",policy="llama"}`,
		`inferscale_scaler_metric_target{metric="",namespace="` + ns + `",policy="llama",type="QueueDepth"} 4`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scraped:\n%s", out)
	}
}
