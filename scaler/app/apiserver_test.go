package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/internal/apiservertest"
	"sigs.k8s.io/yaml"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/controller"
)

// applyFile creates every object of a multi-document YAML file.
func applyFile(t *testing.T, c client.Client, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(t.Context(), &u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// aggregateClusterRoles fills every aggregated ClusterRole with the rules of the roles its
// selectors match, as kube-controller-manager's clusterrole-aggregation controller does; envtest
// runs no controller manager, so without this the scaler's role would stay empty.
func aggregateClusterRoles(t *testing.T, c client.Client) {
	t.Helper()
	var roles rbacv1.ClusterRoleList
	if err := c.List(t.Context(), &roles); err != nil {
		t.Fatal(err)
	}
	for i := range roles.Items {
		agg := &roles.Items[i]
		if agg.AggregationRule == nil {
			continue
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range roles.Items {
				if r.Name != agg.Name && s.Matches(labels.Set(r.Labels)) {
					rules = append(rules, r.Rules...)
				}
			}
		}
		agg.Rules = rules
		if err := c.Update(t.Context(), agg); err != nil {
			t.Fatalf("aggregate ClusterRole %s: %v", agg.Name, err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAgainstAPIServer runs the whole scaler (app.Run) against a real API server with exactly
// the RBAC of manifests/scaler, impersonating its ServiceAccount: self-managed certificates,
// leader election and the leader label, TokenReviews of real pod-bound tokens, attribution
// through a real owner chain, and a /scale write with its Event and status. There is no
// kubelet or controller-manager: pods are created and made Ready by hand.
func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts etcd and kube-apiserver")
	}
	cfg := apiservertest.Start(t, filepath.Join("..", "..", "manifests", "crd", "bases"))
	ctx := t.Context()
	scheme := testScheme(t)
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := admin.Create(ctx, o); err != nil {
				t.Fatalf("create %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	ready := func(p *corev1.Pod) {
		t.Helper()
		p.Status = corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: ptr.To(metav1.NewTime(time.Now().Add(-time.Hour))),
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))},
			},
		}
		if err := admin.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	// The scaler's namespace, RBAC from the manifests, and its own pod for the leader label.
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "inferscale-system"}})
	applyFile(t, admin, filepath.Join("..", "..", "manifests", "scaler", "rbac.yaml"))
	aggregateClusterRoles(t, admin)
	create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "inferscale-system", Name: "inferscale-scaler-0", Labels: map[string]string{"app.kubernetes.io/name": "inferscale-scaler"}},
		Spec:       corev1.PodSpec{ServiceAccountName: "inferscale-scaler", Containers: []corev1.Container{{Name: "scaler", Image: "scaler"}}},
	})

	// The workload: Deployment → ReplicaSet → two Ready pods, and a policy on queue depth.
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "model"}})
	labels := map[string]string{"app": "llama"}
	podSpec := corev1.PodSpec{ServiceAccountName: "model", Containers: []corev1.Container{{Name: "model", Image: "model"}}}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "llama"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec},
		},
	}
	create(deploy)
	controllerRef := func(o client.Object, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: o.GetName(), UID: o.GetUID(), Controller: ptr.To(true)}}
	}
	// As the Deployment controller makes it: its labels and selector with a pod-template-hash.
	rsLabels := map[string]string{"app": "llama", "pod-template-hash": "1"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "llama-1", Labels: rsLabels, OwnerReferences: controllerRef(deploy, "Deployment")},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: rsLabels}, Spec: podSpec}},
	}
	create(rs)
	pods := map[string]*corev1.Pod{}
	for _, name := range []string{"llama-1-a", "llama-1-b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: name, Labels: rsLabels, OwnerReferences: controllerRef(rs, "ReplicaSet")}, Spec: podSpec}
		create(p)
		ready(p)
		pods[name] = p
	}
	create(&v1alpha1.AutoscalingPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "llama"},
		Spec: v1alpha1.AutoscalingPolicySpec{
			TargetRef:   v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
			MaxReplicas: 10,
			Metrics:     []v1alpha1.MetricSpec{{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("5")}}},
		},
	})

	// The scaler, as its ServiceAccount.
	scalerCfg := rest.CopyConfig(cfg)
	scalerCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:inferscale-system:inferscale-scaler"}
	t.Setenv("POD_NAME", "inferscale-scaler-0")
	t.Setenv("POD_NAMESPACE", "inferscale-system")
	opts := DefaultOptions()
	opts.ListenAddress = freeAddr(t)
	opts.MetricsAddress, opts.ProbeAddress = "0", "0"
	opts.Certs.CertDir = t.TempDir()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, scalerCfg, opts) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// Wait for the certificate, then talk to the endpoint as agents would.
	var caPEM []byte
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		caPEM, err = os.ReadFile(filepath.Join(opts.Certs.CertDir, "ca.crt"))
		return err == nil, nil
	}); err != nil {
		t.Fatalf("no certificate written: %v", err)
	}
	// The agents' trust bundle is published, with the scaler's RBAC, as what the cert dir holds.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		ctb, err := kube.CertificatesV1().ClusterTrustBundles().Get(ctx, "inferscale-scaler-ca", metav1.GetOptions{})
		return err == nil && ctb.Spec.TrustBundle == string(caPEM), nil
	}); err != nil {
		t.Fatalf("the ClusterTrustBundle inferscale-scaler-ca does not hold the report endpoint's CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "inferscale-scaler.inferscale-system.svc"}}}
	token := func(pod *corev1.Pod, audience string) string {
		t.Helper()
		tr, err := kube.CoreV1().ServiceAccounts("ai").CreateToken(ctx, "model", &authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{
			Audiences:      []string{audience},
			BoundObjectRef: &authnv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	post := func(pod *corev1.Pod, tok string, inFlight float64) (int, string) {
		now := time.Now()
		var body bytes.Buffer
		if err := reportv1.Encode(&body, &reportv1.Report{
			APIVersion: reportv1.APIVersion,
			Pod:        reportv1.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)},
			Interval:   reportv1.Interval{Start: now.Add(-time.Second), End: now},
			InFlight:   reportv1.Gauge{Average: inFlight, Max: inFlight},
		}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+opts.ListenAddress+"/v1/reports", &body)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}
	a, b := pods["llama-1-a"], pods["llama-1-b"]
	tokA, tokB := token(a, "inferscale-scaler"), token(b, "inferscale-scaler")

	// Until elected and configured the answer is 503; then the first report is accepted.
	var status int
	var msg string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		status, msg = post(a, tokA, 10)
		return status == http.StatusAccepted, nil
	}); err != nil {
		t.Fatalf("report never accepted: last %d %s", status, msg)
	}

	for _, c := range []struct {
		name   string
		tok    string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong audience", token(a, "someone-else"), http.StatusUnauthorized},
		{"another pod's token", tokB, http.StatusForbidden},
		{"garbage", "not-a-token", http.StatusUnauthorized},
	} {
		if got, msg := post(a, c.tok, 10); got != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, got, msg, c.status)
		}
	}

	var leader corev1.Pod
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "inferscale-system", Name: "inferscale-scaler-0"}, &leader); err != nil {
		t.Fatal(err)
	}
	if leader.Labels[controller.LeaderLabel] != "true" {
		t.Errorf("leader pod labels = %v, want %s=true", leader.Labels, controller.LeaderLabel)
	}

	// Two pods at 10 in flight for a target of 5: the Deployment goes to 4.
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		for _, p := range []struct {
			pod *corev1.Pod
			tok string
		}{{a, tokA}, {b, tokB}} {
			if s, m := post(p.pod, p.tok, 10); s != http.StatusAccepted {
				return false, fmt.Errorf("report of %s: %d %s", p.pod.Name, s, m)
			}
		}
		var d appsv1.Deployment
		if err := admin.Get(ctx, client.ObjectKeyFromObject(deploy), &d); err != nil {
			return false, err
		}
		return *d.Spec.Replicas == 4, nil
	})
	if err != nil {
		var p v1alpha1.AutoscalingPolicy
		_ = admin.Get(ctx, client.ObjectKey{Namespace: "ai", Name: "llama"}, &p)
		t.Fatalf("Deployment not scaled to 4: %v\nstatus: %+v", err, p.Status)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		var p v1alpha1.AutoscalingPolicy
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "ai", Name: "llama"}, &p); err != nil {
			return false, err
		}
		var evs eventsv1.EventList
		if err := admin.List(ctx, &evs, client.InNamespace("ai")); err != nil {
			return false, err
		}
		rescaled := false
		for _, e := range evs.Items {
			rescaled = rescaled || (e.Reason == "SuccessfulRescale" && e.Regarding.Name == "llama" && strings.Contains(e.Note, "New size: 4"))
		}
		return p.Status.DesiredReplicas == 4 && p.Status.LastScaleTime != nil && rescaled, nil
	})
	if err != nil {
		t.Errorf("status or Event of the rescale missing: %v", err)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("test context ended")
	}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
