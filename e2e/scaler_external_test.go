//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/inferscale/inferscale/certs/authority"
	"github.com/inferscale/inferscale/e2e/images"
)

// The external metrics adapter of the test: a real aggregated APIService over TLS, its CA in
// the APIService, the front proxy's client certificate checked, the caller authorized by a
// SubjectAccessReview. The cluster-scoped objects carry the test's namespace in their names.
const externalAdapterManifest = `apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-adapter, namespace: {{NS}}}
---
apiVersion: v1
kind: Secret
metadata: {name: metrics-adapter-tls, namespace: {{NS}}}
type: kubernetes.io/tls
data: {tls.crt: {{CERT}}, tls.key: {{KEY}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: {{NS}}-metrics-adapter-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: metrics-adapter, namespace: {{NS}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: {{NS}}-metrics-adapter-auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{kind: ServiceAccount, name: metrics-adapter, namespace: {{NS}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: {{NS}}-metrics-adapter}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [external-metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: {{NS}}-metrics-adapter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{NS}}-metrics-adapter}
subjects: [{kind: ServiceAccount, name: metrics-adapter, namespace: {{NS}}}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-adapter, namespace: {{NS}}}
spec:
  selector: {app: metrics-adapter}
  ports: [{name: https, port: 443, targetPort: 6443}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-adapter, namespace: {{NS}}}
spec:
  selector: {matchLabels: {app: metrics-adapter}}
  template:
    metadata: {labels: {app: metrics-adapter}}
    spec:
      serviceAccountName: metrics-adapter
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: adapter
        image: {{IMAGE}}
        imagePullPolicy: Never
        ports: [{containerPort: 6443}]
        readinessProbe: {httpGet: {path: /readyz, port: 6443, scheme: HTTPS}, periodSeconds: 1}
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: tls, mountPath: /tls, readOnly: true}]
      volumes: [{name: tls, secret: {secretName: metrics-adapter-tls}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  service: {name: metrics-adapter, namespace: {{NS}}, port: 443}
  caBundle: {{CA}}
  groupPriorityMinimum: 100
  versionPriority: 100
`

// installExternalAdapter runs the test adapter in ns and registers it as
// external.metrics.k8s.io; the APIService and the cluster-scoped RBAC go at cleanup.
func installExternalAdapter(t *testing.T, ns string) {
	t.Helper()
	built, err := testCluster.BuildImages(t.Context(), images.Spec{Name: "metricsadapter", GoPackage: "github.com/inferscale/inferscale/e2e/images/metricsadapter", User: "65532:65532"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := authority.NewCA(now, "e2e-metrics-adapter-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(now, authority.ServiceDNSNames("metrics-adapter", ns), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	manifest := strings.NewReplacer("{{NS}}", ns, "{{IMAGE}}", built[0].Ref, "{{CA}}", b64(ca.CertPEM),
		"{{CERT}}", b64(serving.CertPEM), "{{KEY}}", b64(serving.KeyPEM)).Replace(externalAdapterManifest)
	t.Cleanup(func() {
		for _, obj := range []string{"apiservice/v1beta1.external.metrics.k8s.io", "clusterrolebinding/" + ns + "-metrics-adapter-auth-delegator",
			"clusterrolebinding/" + ns + "-metrics-adapter", "clusterrole/" + ns + "-metrics-adapter"} {
			if out, err := testCluster.Kubectl(context.Background(), "delete", obj, "--ignore-not-found"); err != nil {
				t.Errorf("delete %s: %v\n%s", obj, err, out)
			}
		}
		if out, err := testCluster.Kubectl(context.Background(), "-n", "kube-system", "delete", "rolebinding", ns+"-metrics-adapter-auth-reader", "--ignore-not-found"); err != nil {
			t.Errorf("delete rolebinding: %v\n%s", err, out)
		}
	})
	if out, err := applyManifest(t, manifest); err != nil {
		t.Fatalf("install the metrics adapter: %v\n%s", err, out)
	}
	if out, err := testCluster.Kubectl(t.Context(), "wait", "--for=condition=Available", "apiservice/v1beta1.external.metrics.k8s.io", "--timeout=60s"); err != nil {
		desc, _ := testCluster.Kubectl(t.Context(), "-n", ns, "describe", "pods", "-l", "app=metrics-adapter")
		logs, _ := testCluster.Kubectl(t.Context(), "-n", ns, "logs", "deploy/metrics-adapter", "--tail=40")
		status, _ := testCluster.Kubectl(t.Context(), "get", "apiservice", "v1beta1.external.metrics.k8s.io", "-o", "yaml")
		t.Fatalf("the adapter's APIService is not Available: %v\n%s\n%s\n%s\n%s", err, out, status, desc, logs)
	}
}

// An autoscaling/v2 HPA with an External metric, applied with only its apiVersion and kind
// changed, scales a Deployment on what the test's aggregated external metrics adapter serves,
// up and back down, through the scaler's own RBAC.
func TestScalerScalesOnAnExternalMetric(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	installExternalAdapter(t, ns)

	// The adapter answers only who may list the metric: an authenticated user without that
	// right is refused by the adapter's SubjectAccessReview, through the aggregator.
	raw := "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + ns + "/queue_messages_ready"
	if out, err := testCluster.Kubectl(t.Context(), "get", "--raw", raw, "--as=system:serviceaccount:"+ns+":default"); err == nil || !strings.Contains(string(out), "cannot list") {
		t.Errorf("a ServiceAccount without RBAC for external metrics read them: %v\n%s", err, out)
	}

	const name = "worker"
	createDeployment(t, ns, modelDeployment(name, 1, nil, nil))
	readyPods(t, ns, name, 1)
	setQueue := func(v string) {
		t.Helper()
		// The other queue's series is left out by the metric's selector.
		out, err := testCluster.Kubectl(t.Context(), "-n", ns, "create", "configmap", "external-metrics", "--dry-run=client", "-o", "yaml",
			`--from-literal=queue_messages_ready=[{"labels":{"queue":"worker_tasks"},"value":"`+v+`"},{"labels":{"queue":"other"},"value":"1000"}]`)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if out, err := applyManifest(t, string(out)); err != nil {
			t.Fatalf("set the queue to %s: %v\n%s", v, err, out)
		}
	}
	setQueue("0")

	hpa := fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: External
    external:
      metric:
        name: queue_messages_ready
        selector: {matchLabels: {queue: worker_tasks}}
      target: {type: AverageValue, averageValue: "10"}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
    scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 1}]}
`, name, ns)
	// It is a valid HPA for the real API server...
	if out, err := applyManifest(t, hpa, "--dry-run=server"); err != nil {
		t.Fatalf("the manifest is no valid HPA: %v\n%s", err, out)
	}
	// ...and, with apiVersion and kind changed, a policy.
	policy := strings.NewReplacer("apiVersion: autoscaling/v2\n", "apiVersion: inferscale.io/v1alpha1\n",
		"kind: HorizontalPodAutoscaler\n", "kind: AutoscalingPolicy\n").Replace(hpa)
	if !strings.Contains(policy, "kind: AutoscalingPolicy\n") {
		t.Fatal("the conversion changed nothing")
	}
	applyPolicy(t, policy)

	read := func() int32 { return replicas(t, ns, name) }
	setQueue("35") // 35 against 10 per replica: 4
	n, took := waitReplicas(t, ns, name, read, func(n int32) bool { return n == 4 }, 45*time.Second, "scale-up on the external metric")
	t.Logf("scaled to %d replicas %s after the queue grew", n, took.Round(100*time.Millisecond))
	if got := kubectl(t, "-n", ns, "get", "asp", name, "-o", "jsonpath={.status.currentMetrics[0].current}"); got == "" {
		t.Error("status.currentMetrics has no observed value")
	}
	setQueue("5") // 5 against 10 per replica: 1
	n, took = waitReplicas(t, ns, name, read, func(n int32) bool { return n == 1 }, 45*time.Second, "scale-down on the external metric")
	t.Logf("scaled down to %d replica %s after the queue drained", n, took.Round(100*time.Millisecond))
}
