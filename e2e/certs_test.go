//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/certs"
	"github.com/inferscale/inferscale/e2e/install"
)

// webhookPort is the container port the webhook serves admission on.
const webhookPort = 9443

// Deleting the webhook's serving Secret makes the self-managed certificates re-issue
// it, every replica reloads the new certificate without a restart, and admission
// answers throughout: the old certificate stays trusted (same CA) until reloaded.
func TestCertificatesRotateWhileAdmissionAnswers(t *testing.T) {
	requireInferscale(t)
	ctx := t.Context()
	secrets := testCluster.Client.CoreV1().Secrets(install.Namespace)

	caBefore, err := secrets.Get(ctx, certs.WebhookCASecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the self-managed CA secret: %v", err)
	}
	before, err := secrets.Get(ctx, certs.WebhookSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the webhook's serving secret: %v", err)
	}
	restarts := webhookRestarts(t)
	waitServed(t, before.Data[certs.CertKey], caBefore.Data[certs.CAKey], "the initial certificate")

	probe := startAdmissionProbe(t)
	if err := secrets.Delete(ctx, certs.WebhookSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the serving secret: %v", err)
	}
	var after *corev1.Secret
	// The webhook re-checks every --cert-sync-interval (a minute by default).
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := secrets.Get(ctx, certs.WebhookSecret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		after = s
		return err == nil && !bytes.Equal(s.Data[certs.CertKey], before.Data[certs.CertKey]), err
	})
	if err != nil {
		t.Fatalf("the serving secret was not re-issued: %v", err)
	}
	waitServed(t, after.Data[certs.CertKey], caBefore.Data[certs.CAKey], "the re-issued certificate")
	answered, failures := probe()

	if answered == 0 {
		t.Error("the admission probe never got an answer")
	}
	if len(failures) > 0 {
		t.Errorf("admission failed %d times during the rotation (of %d), first: %s", len(failures), answered+len(failures), failures[0])
	}
	caAfter, err := secrets.Get(ctx, certs.WebhookCASecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caAfter.Data[certs.CertKey], caBefore.Data[certs.CertKey]) {
		t.Error("the CA changed, though only the serving secret was deleted")
	}
	if got := webhookRestarts(t); got != restarts {
		t.Errorf("webhook containers restarted %d times during the rotation; a reload needs none", got-restarts)
	}
	t.Logf("rotation: %d admission requests answered, none failed", answered)
}

// startAdmissionProbe submits, every 100 ms until the returned function is called,
// a server-side dry-run of a policy only the validating webhook refuses. It returns
// how many were refused by the webhook and what any other outcome was.
func startAdmissionProbe(t *testing.T) func() (int, []string) {
	t.Helper()
	var policy unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: cert-rotation-probe, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: Not_A_DNS_Name}
  maxReplicas: 2
  metrics: [{type: QueueDepth, queueDepth: {averageValue: 1}}]
`), &policy.Object); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu       sync.Mutex
		answered int
		failures []string
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := c.Create(ctx, policy.DeepCopy(), client.DryRunAll)
			mu.Lock()
			switch {
			case err != nil && strings.Contains(err.Error(), "spec.targetRef.name"):
				answered++
			case ctx.Err() != nil:
			case err == nil:
				failures = append(failures, fmt.Sprintf("%s: admitted", time.Now().Format(time.TimeOnly)))
			default:
				failures = append(failures, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), err))
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (int, []string) {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return answered, failures
	}
}

// waitServed waits until every ready webhook pod serves the certificate certPEM,
// verified against the trust bundle for the Service's name, through a port-forward
// (which works on any cluster the tests run against).
func waitServed(t *testing.T, certPEM, bundle []byte, what string) {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("%s: the secret's tls.crt holds no PEM", what)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatalf("%s: the CA bundle holds no certificate", what)
	}
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 2*time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods := webhookPods(t)
		if len(pods) == 0 {
			last = "no ready webhook pod"
			return false, nil
		}
		for _, pod := range pods {
			served, err := servedCertificate(ctx, pod, roots)
			if err != nil {
				last = fmt.Sprintf("pod %s: %v", pod, err)
				return false, nil
			}
			if !bytes.Equal(served.Raw, block.Bytes) {
				last = fmt.Sprintf("pod %s serves serial %s", pod, served.SerialNumber)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s is not served by every webhook pod: %v; last: %s", what, err, last)
	}
}

// webhookPods are the names of the ready pods of the webhook Deployment.
func webhookPods(t *testing.T) []string {
	t.Helper()
	ctx := t.Context()
	d, err := testCluster.Client.AppsV1().Deployments(install.Namespace).Get(ctx, "inferscale-webhook", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("webhook deployment: %v", err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatalf("webhook deployment selector: %v", err)
	}
	list, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		t.Fatalf("webhook pods: %v", err)
	}
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				names = append(names, p.Name)
			}
		}
	}
	return names
}

// webhookRestarts sums the container restarts of the webhook pods.
func webhookRestarts(t *testing.T) int32 {
	t.Helper()
	var n int32
	for _, name := range webhookPods(t) {
		p, err := testCluster.Client.CoreV1().Pods(install.Namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Status.ContainerStatuses {
			n += s.RestartCount
		}
	}
	return n
}

// servedCertificate completes a TLS handshake with pod's webhook port through the
// API server's port-forward and returns the leaf the pod presented.
func servedCertificate(ctx context.Context, pod string, roots *x509.CertPool) (*x509.Certificate, error) {
	rt, upgrader, err := spdy.RoundTripperFor(testCluster.Config)
	if err != nil {
		return nil, err
	}
	url := testCluster.Client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(install.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", webhookPort)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return nil, fmt.Errorf("port-forward: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: &tls.Config{
		RootCAs:    roots,
		ServerName: certs.WebhookService + "." + install.Namespace + ".svc",
	}}
	conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}
