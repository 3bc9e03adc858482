//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/certs"
	"github.com/inferscale/inferscale/certs/authority"
	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/scaler/controller"
	"github.com/inferscale/inferscale/webhook/inject"
)

// The report CA is rotated (kubectl annotate, as an operator does) while an agent reports:
// the new CA reaches the ClusterTrustBundle at once, signs after the overlap, the scaler serves
// a certificate it signed, and the running agent, whose pod projects the bundle, keeps its
// reports accepted over new TLS connections to that certificate without a restart.
//
// The scaler runs with a 75 s overlap and 5 s syncs for the test (the defaults, 10 min and
// 1 min, would make it a quarter of an hour); the kubelet's refresh of the projected bundle
// is the cluster's default.
func TestReportCARotationKeepsAgentsReporting(t *testing.T) {
	requireInferscale(t)
	ctx := t.Context()
	const overlap = 75 * time.Second
	setScalerArgs(t, "--ca-overlap="+overlap.String(), "--cert-sync-interval=5s")

	ns := newNamespace(t)
	createDeployment(t, ns, slowModelDeployment("ca", 1, 10*time.Millisecond, 8))
	applyPolicy(t, scalerPolicy(ns, "ca", "apps/v1", "Deployment", "ca", 2))
	pod := readyPods(t, ns, "ca", 1)[0]
	if !hasCAVolume(pod) {
		t.Fatalf("the agent of pod %s has no projected ClusterTrustBundle volume %s", pod.Name, inject.CAVolumeName)
	}
	waitSent(t, pod, 3, time.Minute, "before the rotation")

	secrets := testCluster.Client.CoreV1().Secrets(install.Namespace)
	before, err := secrets.Get(ctx, certs.ScalerCASecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldCA := before.Data[certs.CertKey]
	kubectl(t, "-n", install.Namespace, "annotate", "secret", certs.ScalerCASecret, certs.AnnotationRotateCA+"=")
	rotated := time.Now()

	// Staged: both CAs are published, the old one still signs.
	var staged []byte
	poll(t, 30*time.Second, "the new CA staged and published in the ClusterTrustBundle", func(ctx context.Context) (bool, error) {
		s, err := secrets.Get(ctx, certs.ScalerCASecret, metav1.GetOptions{})
		if err != nil || len(s.Data[certs.NextCertKey]) == 0 {
			return false, err
		}
		staged = s.Data[certs.NextCertKey]
		ctb, err := testCluster.Client.CertificatesV1().ClusterTrustBundles().Get(ctx, certs.ScalerTrustBundle, metav1.GetOptions{})
		return err == nil && strings.Contains(ctb.Spec.TrustBundle, string(bytes.TrimSpace(staged))) && strings.Contains(ctb.Spec.TrustBundle, string(bytes.TrimSpace(oldCA))), err
	})
	t.Logf("new CA staged and published %s after the request", time.Since(rotated).Round(time.Second))

	// After the overlap it signs, and the serving certificate is re-issued under it.
	poll(t, overlap+time.Minute, "the staged CA signing the scaler's serving certificate", func(ctx context.Context) (bool, error) {
		ca, err := secrets.Get(ctx, certs.ScalerCASecret, metav1.GetOptions{})
		if err != nil || !bytes.Equal(ca.Data[certs.CertKey], staged) {
			return false, err
		}
		serving, err := secrets.Get(ctx, certs.ScalerSecret, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		leaf, signer := authority.ParseBundle(serving.Data[certs.CertKey]), authority.ParseBundle(staged)
		return len(leaf) == 1 && len(signer) == 1 && leaf[0].CheckSignatureFrom(signer[0]) == nil, nil
	})
	t.Logf("the new CA signs %s after the request", time.Since(rotated).Round(time.Second))

	// Every replica serves the new certificate within a sync; then the agent must make new TLS
	// connections (its keep-alive one was made under the old certificate): the leader's pod is
	// deleted, so the agent reconnects to the next leader.
	time.Sleep(10 * time.Second)
	sentBefore := agentMetric(t, pod, "inferscale_agent_reports_sent_total")
	leader := scalerLeader(t)
	if err := testCluster.Client.CoreV1().Pods(install.Namespace).Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the scaler leader %s: %v", leader, err)
	}
	poll(t, 90*time.Second, "a new scaler leader", func(context.Context) (bool, error) {
		l := scalerLeaderOrEmpty(t)
		return l != "" && l != leader, nil
	})
	waitSent(t, pod, sentBefore+5, 90*time.Second, "after the switch to the new CA")

	p, err := testCluster.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.UID != pod.UID {
		t.Fatal("the model pod was replaced")
	}
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if s.RestartCount != 0 {
			t.Errorf("container %s restarted %d times: the rotation must need no restart", s.Name, s.RestartCount)
		}
	}
	t.Logf("agent failures by reason after the rotation: network %v, ca %v",
		agentMetric(t, pod, `inferscale_agent_report_send_failures_total{reason="network"}`), agentMetric(t, pod, `inferscale_agent_report_send_failures_total{reason="ca"}`))
}

// The scaler's ServiceAccount may not read the webhook's CA or serving key, may create no
// Secret of theirs, and may change no pod of its namespace but the leader label of its own.
func TestScalerCannotReachTheWebhooksKeys(t *testing.T) {
	requireInferscale(t)
	as := "--as=system:serviceaccount:" + install.Namespace + ":inferscale-scaler"
	canI := func(verb, resource string) string {
		out, _ := testCluster.Kubectl(t.Context(), "auth", "can-i", verb, resource, "-n", install.Namespace, as)
		return strings.TrimSpace(string(out))
	}
	for _, name := range []string{certs.WebhookCASecret, certs.WebhookSecret} {
		if got := canI("get", "secret/"+name); got != "no" {
			t.Errorf("kubectl auth can-i get secret/%s as the scaler: %q, want no", name, got)
		}
	}
	if got := canI("get", "secret/"+certs.ScalerCASecret); got != "yes" {
		t.Errorf("kubectl auth can-i get secret/%s as the scaler: %q, want yes (its own CA)", certs.ScalerCASecret, got)
	}

	refused := func(want string, args ...string) {
		t.Helper()
		out, err := testCluster.Kubectl(t.Context(), append(args, "-n", install.Namespace, as, "--dry-run=server")...)
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("kubectl %s: %v, %s; want refused with %q", strings.Join(args, " "), err, out, want)
		}
	}
	allowed := func(args ...string) {
		t.Helper()
		if out, err := testCluster.Kubectl(t.Context(), append(args, "-n", install.Namespace, as, "--dry-run=server")...); err != nil {
			t.Errorf("kubectl %s: %v, %s; want allowed", strings.Join(args, " "), err, out)
		}
	}
	refused("may create only its own certificate Secrets", "create", "secret", "generic", certs.WebhookCASecret)
	refused("may create only its own certificate Secrets", "create", "secret", "generic", "anything-else")

	webhookPod := webhookPods(t)[0]
	refused("may change only its own pods", "label", "pod", webhookPod, "x=y")
	refused("may change only its own pods", "set", "image", "pod/"+webhookPod, "webhook=evil:latest")
	leader := scalerLeader(t)
	allowed("label", "pod", leader, "inferscale.io/scaler-leader=true", "--overwrite")
	refused("only the label inferscale.io/scaler-leader", "label", "pod", leader, "x=y")
}

// setScalerArgs appends args to the scaler's container for the test, waits for the rollout,
// and rolls back (and waits) when the test ends.
func setScalerArgs(t *testing.T, args ...string) {
	t.Helper()
	var ops []string
	for _, a := range args {
		ops = append(ops, fmt.Sprintf(`{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":%q}`, a))
	}
	kubectl(t, "-n", install.Namespace, "patch", "deployment", "inferscale-scaler", "--type=json", "-p", "["+strings.Join(ops, ",")+"]")
	t.Cleanup(func() {
		kubectl(t, "-n", install.Namespace, "rollout", "undo", "deployment/inferscale-scaler")
		kubectl(t, "-n", install.Namespace, "rollout", "status", "deployment/inferscale-scaler", "--timeout=180s")
	})
	kubectl(t, "-n", install.Namespace, "rollout", "status", "deployment/inferscale-scaler", "--timeout=180s")
}

func hasCAVolume(p corev1.Pod) bool {
	for _, v := range p.Spec.Volumes {
		if v.Name == inject.CAVolumeName && v.Projected != nil && len(v.Projected.Sources) == 1 && v.Projected.Sources[0].ClusterTrustBundle != nil {
			return true
		}
	}
	return false
}

// agentMetric reads one sample of the agent's /metrics through the API server's pod proxy
// (to the pod's IP, where the admin port listens); absent is 0.
func agentMetric(t *testing.T, p corev1.Pod, series string) float64 {
	t.Helper()
	raw, err := testCluster.Client.CoreV1().Pods(p.Namespace).ProxyGet("http", p.Name, "9090", "/metrics", nil).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("agent metrics of %s: %v", p.Name, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// waitSent waits until the agent's accepted reports reach n.
func waitSent(t *testing.T, p corev1.Pod, n float64, timeout time.Duration, when string) {
	t.Helper()
	var got float64
	poll(t, timeout, fmt.Sprintf("%v reports accepted %s", n, when), func(context.Context) (bool, error) {
		got = agentMetric(t, p, "inferscale_agent_reports_sent_total")
		return got >= n, nil
	})
}

func poll(t *testing.T, timeout time.Duration, what string, done func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), time.Second, timeout, true, done); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// scalerLeader is the scaler pod that holds the leader label.
func scalerLeader(t *testing.T) string {
	t.Helper()
	var name string
	poll(t, time.Minute, "a labelled scaler leader", func(context.Context) (bool, error) {
		name = scalerLeaderOrEmpty(t)
		return name != "", nil
	})
	return name
}

func scalerLeaderOrEmpty(t *testing.T) string {
	t.Helper()
	pods, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return p.Name
		}
	}
	return ""
}
