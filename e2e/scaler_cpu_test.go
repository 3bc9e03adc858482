//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/inferscale/inferscale/webhook/inject"
)

// A policy with an HPA-style Resource cpu metric scales on real metrics.k8s.io data:
// metrics-server reads the kubelet, the scaler reads metrics.k8s.io. The pods request 20m of
// cpu (model and agent 10m each) and the policy targets 50% of it, which a steady load
// through the agent exceeds.
func TestScalerScalesOnCPUFromMetricsServer(t *testing.T) {
	requireInferscale(t)
	if err := testCluster.InstallMetricsServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	const name = "cpumodel"
	d := slowModelDeployment(name, 1, 5*time.Millisecond, 64)
	d.Spec.Template.Annotations[inject.AnnotationSidecarCPU] = "10m"
	d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
	createDeployment(t, ns, d)
	readyPods(t, ns, name, 1)
	ip := serviceFor(t, ns, name, map[string]string{"app": name})
	applyPolicy(t, fmt.Sprintf(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
`, name, ns))

	startLoad(t, ns, clusterURL(ip, 80, "/v1/completions"), "150s@200")
	read := func() int32 { return replicas(t, ns, name) }
	n, took := waitReplicas(t, ns, name, read, func(n int32) bool { return n >= 2 }, 120*time.Second, "scale-up on cpu")
	t.Logf("scaled to %d replicas on cpu %s after the load started", n, took.Round(100*time.Millisecond))
	out := kubectl(t, "-n", ns, "get", "asp", name, "-o", "jsonpath={.status.currentMetrics[0].current}")
	if out == "" {
		t.Error("status.currentMetrics has no observed cpu value")
	}
	t.Logf("observed cpu utilization: %s", out)
}
