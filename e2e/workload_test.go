//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/e2e/images"
)

// A plain Deployment of the test model server becomes Ready and serves, through its Service,
// requests sent from another pod: scheduling, the runtime, the CNI and kube-proxy all work.
func TestDeploymentServesThroughService(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "modelserver"}
	_, err := testCluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "modelserver"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            "model",
					Image:           modelServer.Ref,
					ImagePullPolicy: corev1.PullNever,
					Args:            []string{"-service-time=20ms"},
					Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	svc, err := testCluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "modelserver"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}

	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := testCluster.Client.AppsV1().Deployments(ns).Get(ctx, "modelserver", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("wait for 2 ready replicas: %v\n%s", err, kubectl(t, "-n", ns, "describe", "pods"))
	}
	t.Logf("2 replicas ready in %s", time.Since(start).Round(100*time.Millisecond))

	ip := svc.Spec.ClusterIP
	out := runClientPod(t, ns,
		clusterURL(ip, 80, "/v1/completions"),
		clusterURL(ip, 80, "/v1/completions?stream=true"),
		clusterURL(ip, 80, "/metrics"))
	for _, want := range []string{`"object":"text_completion"`, "data: [DONE]", `vllm:num_requests_waiting{model_name="modelserver"} 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("responses through Service %s lack %q:\n%s", ip, want, out)
		}
	}
}

// A cgo binary's image (the agent's kind: go-nvml needs cgo) runs in a pod: the image carries
// the shared libraries and the loader the binary links.
func TestCGOImageRuns(t *testing.T) {
	ns := newNamespace(t)
	built, err := testCluster.BuildImages(context.Background(), images.Spec{
		Name: "cgohello", GoPackage: "./testdata/cgohello", Dir: repoPath(t, "e2e/images"), CGO: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := runPod(t, ns, built[0].Ref); !strings.Contains(out, "hello from cgo") {
		t.Errorf("cgo image printed %q, want it to say hello from cgo", out)
	}
}

// metrics-server runs and the metrics.k8s.io API serves, as the Resource metric (cpu, memory)
// of a policy needs.
func TestMetricsServerServesNodeMetrics(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	if err := testCluster.InstallMetricsServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("metrics.k8s.io serving after %s", time.Since(start).Round(100*time.Millisecond))
	out := kubectl(t, "top", "node", "--no-headers")
	if fields := strings.Fields(out); len(fields) < 2 || !strings.HasSuffix(fields[1], "m") {
		t.Errorf("kubectl top node = %q, want a node with its CPU in millicores", out)
	}
}
