//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/scaler/controller"
)

// Reports reach the scaler only with the reporting pod's own token for audience
// inferscale-scaler: no token, a token for another audience, or another pod's token are
// refused, the pod's own token is accepted. Sent from this machine to the leader pod, the one
// the report Service selects.
func TestScalerRefusesReportsWithoutThePodsToken(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name = "authmodel"
	createDeployment(t, ns, slowModelDeployment(name, 2, 10*time.Millisecond, 4))
	pods := readyPods(t, ns, name, 2)
	applyPolicy(t, scalerPolicy(ns, name, "apps/v1", "Deployment", name, 3))
	a, b := pods[0], pods[1]

	ctx := t.Context()
	sc := newScalerClient(t)
	token := sc.token
	post := func(pod corev1.Pod, tok string) (int, string) {
		t.Helper()
		now := time.Now()
		return sc.post(&reportv1.Report{
			APIVersion: reportv1.APIVersion,
			Pod:        reportv1.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)},
			Interval:   reportv1.Interval{Start: now.Add(-time.Second), End: now},
		}, tok)
	}

	for _, c := range []struct {
		name   string
		tok    string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong audience", token(a, "kubernetes"), http.StatusUnauthorized},
		{"another pod's token", token(b, "inferscale-scaler"), http.StatusForbidden},
	} {
		if got, msg := post(a, c.tok); got != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, got, msg, c.status)
		}
	}
	// The pod's own token is accepted once the policy's first tick has set up its windows
	// (until then the answer is a retryable 503).
	own := token(a, "inferscale-scaler")
	var got int
	var msg string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got, msg = post(a, own)
		return got != http.StatusServiceUnavailable, nil
	})
	if err != nil || got != http.StatusAccepted {
		t.Errorf("the pod's own token: %d %s, want 202", got, msg)
	}
}

// scalerClient sends reports to the scaler's leader from this machine, as an agent would.
type scalerClient struct {
	t     *testing.T
	addr  string
	httpc *http.Client
}

func newScalerClient(t *testing.T) *scalerClient {
	t.Helper()
	ctx := t.Context()
	secret, err := testCluster.Client.CoreV1().Secrets(install.Namespace).Get(ctx, "inferscale-scaler-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatal("inferscale-scaler-tls has no ca.crt")
	}
	leaders, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(ctx, metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil || len(leaders.Items) != 1 {
		t.Fatalf("leader pods: %v (err %v), want exactly one", len(leaders.Items), err)
	}
	return &scalerClient{t: t, addr: net.JoinHostPort(leaders.Items[0].Status.PodIP, "8443"), httpc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "inferscale-scaler.inferscale-system.svc"},
	}}}
}

// token is a token of pod's service account for audience, bound to the pod.
func (s *scalerClient) token(pod corev1.Pod, audience string) string {
	s.t.Helper()
	tr, err := testCluster.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(s.t.Context(), pod.Spec.ServiceAccountName, &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
		Audiences:      []string{audience},
		BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("token for %s: %v", pod.Name, err)
	}
	return tr.Status.Token
}

// post sends rep with token tok ("" for none) and returns the answer's status and body.
func (s *scalerClient) post(rep *reportv1.Report, tok string) (int, string) {
	s.t.Helper()
	var body bytes.Buffer
	if err := reportv1.Encode(&body, rep); err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(s.t.Context(), http.MethodPost, "https://"+s.addr+"/v1/reports", &body)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.httpc.Do(req)
	if err != nil {
		s.t.Fatalf("post report: %v", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}
