//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/e2e/images"
	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/webhook/optin"
)

var (
	loadgenOnce  sync.Once
	loadgenImage images.Image
	loadgenErr   error
)

// requireLoadgen builds the load generator image once for the run.
func requireLoadgen(t *testing.T) images.Image {
	t.Helper()
	loadgenOnce.Do(func() {
		var built []images.Image
		built, loadgenErr = testCluster.BuildImages(context.Background(), images.Spec{Name: "loadgen", GoPackage: "github.com/inferscale/inferscale/e2e/loadgen"})
		if loadgenErr == nil {
			loadgenImage = built[0]
		}
	})
	if loadgenErr != nil {
		t.Fatalf("build loadgen: %v", loadgenErr)
	}
	return loadgenImage
}

// slowModelDeployment is an opted-in Deployment of the model server whose latency grows with
// load: each pod serves `concurrency` requests at once for serviceTime each, and queues the rest.
func slowModelDeployment(name string, replicas int32, serviceTime time.Duration, concurrency int) *appsv1.Deployment {
	d := modelDeployment(name, replicas, nil, map[string]string{optin.AnnotationInject: "true"})
	d.Spec.Template.Spec.Containers[0].Args = []string{fmt.Sprintf("-service-time=%s", serviceTime), fmt.Sprintf("-concurrency=%d", concurrency)}
	return d
}

// serviceFor creates a Service named name selecting app=name on the port named http, and
// returns its cluster IP.
func serviceFor(t *testing.T, ns, name string, selector map[string]string) string {
	t.Helper()
	svc, err := testCluster.Client.CoreV1().Services(ns).Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return svc.Spec.ClusterIP
}

// scalerPolicy is a policy on target with short windows, so that a test sees a whole
// scale-up and scale-down in about a minute: queue depth 4 per replica, 1..max replicas, a
// 10 s stable window, a 3 s burst window, and scale-down after 10 s of stabilization.
func scalerPolicy(ns, name, apiVersion, kind, target string, max int) string {
	return fmt.Sprintf(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: %s, namespace: %s}
spec:
  targetRef: {apiVersion: %s, kind: %s, name: %s}
  minReplicas: 1
  maxReplicas: %d
  stableWindowSeconds: 10
  burst: {windowSeconds: 3}
  metrics:
  - type: QueueDepth
    queueDepth: {averageValue: 4}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
    scaleDown:
      stabilizationWindowSeconds: 10
      policies: [{type: Percent, value: 100, periodSeconds: 5}]
`, name, ns, apiVersion, kind, target, max)
}

func applyPolicy(t *testing.T, manifest string) {
	t.Helper()
	if out, err := applyManifest(t, manifest); err != nil {
		t.Fatalf("apply policy: %v\n%s", err, out)
	}
}

// startLoad runs the load generator against url with a load profile ("30s@100,...") in a pod
// and returns once the pod runs; the load ends with the profile or when stop is called.
func startLoad(t *testing.T, ns, url, profile string) (stop func()) {
	t.Helper()
	img := requireLoadgen(t)
	ctx := t.Context()
	pods := testCluster.Client.CoreV1().Pods(ns)
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "load-"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "load", Image: img.Ref, ImagePullPolicy: corev1.PullNever,
				Args: []string{"-url=" + url, "-profile=" + profile, "-timeout=10s"},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create load pod: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase != corev1.PodPending, err
	})
	if err != nil {
		t.Fatalf("load pod never ran: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		})
	}
	t.Cleanup(stop)
	return stop
}

// replicas is spec.replicas of a Deployment.
func replicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d, err := testCluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return *d.Spec.Replicas
}

// waitReplicas polls read until ok says so and returns the count and how long it took; it
// fails the test with the policy's status and the scaler's log after timeout.
func waitReplicas(t *testing.T, ns, policy string, read func() int32, ok func(int32) bool, timeout time.Duration, what string) (int32, time.Duration) {
	t.Helper()
	start := time.Now()
	var n int32
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		n = read()
		return ok(n), nil
	})
	if err != nil {
		t.Fatalf("%s: replicas %d after %s\npolicy:\n%s\nscaler log:\n%s", what, n, timeout,
			kubectl(t, "-n", ns, "get", "asp", policy, "-o", "yaml"), scalerLog(t))
	}
	return n, time.Since(start)
}

// scalerLog is the tail of the scaler leader's log, for failure messages.
func scalerLog(t *testing.T) string {
	t.Helper()
	out, _ := testCluster.Kubectl(context.Background(), "-n", install.Namespace, "logs", "-l", "app.kubernetes.io/name=inferscale-scaler", "--tail=40", "--prefix")
	return strings.TrimSpace(string(out))
}
