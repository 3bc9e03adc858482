//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

// modelPodSpec runs the test model server on port 8000, named http, probed by name, as a
// typical model Deployment does.
func modelPodSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{
		Name:            "model",
		Image:           modelServer.Ref,
		ImagePullPolicy: corev1.PullNever,
		Args:            []string{"-service-time=5ms"},
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 1,
		},
	}}}
}

// modelDeployment is a Deployment of the model server labelled app=name, with the
// annotations on the Deployment itself and on its pod template.
func modelDeployment(name string, replicas int32, deploymentAnn, podAnn map[string]string) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: deploymentAnn},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l, Annotations: podAnn},
				Spec:       modelPodSpec(),
			},
		},
	}
}

func createDeployment(t *testing.T, ns string, d *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	out, err := testCluster.Client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", d.Name, err)
	}
	return out
}

// readyPods waits until the Deployment has want ready replicas and returns its pods.
func readyPods(t *testing.T, ns, name string, want int32) []corev1.Pod {
	t.Helper()
	ctx := t.Context()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := testCluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == want && d.Status.UpdatedReplicas == want, nil
	})
	if err != nil {
		t.Fatalf("wait for %d ready replicas of %s: %v\n%s", want, name, err, kubectl(t, "-n", ns, "describe", "pods"))
	}
	return podsOf(t, ns, map[string]string{"app": name})
}

func podsOf(t *testing.T, ns string, selector map[string]string) []corev1.Pod {
	t.Helper()
	list, err := testCluster.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

// agentStatus returns the injection status of pod, and whether it has the agent: the
// sidecar and a readable status annotation.
func agentStatus(t *testing.T, pod corev1.Pod) (inject.Status, bool) {
	t.Helper()
	var st inject.Status
	raw, annotated := pod.Annotations[inject.AnnotationStatus]
	hasContainer := false
	for _, c := range pod.Spec.InitContainers {
		if c.Name == inject.ContainerName {
			hasContainer = true
		}
	}
	if annotated != hasContainer {
		t.Fatalf("pod %s: status annotation %v but agent container %v", pod.Name, annotated, hasContainer)
	}
	if !annotated {
		return st, false
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatalf("pod %s: status annotation %q: %v", pod.Name, raw, err)
	}
	return st, true
}

// wantAgent fails unless every pod has (or, with want false, none has) the agent.
func wantAgent(t *testing.T, pods []corev1.Pod, want bool) {
	t.Helper()
	if len(pods) == 0 {
		t.Fatal("no pods")
	}
	for _, p := range pods {
		if _, has := agentStatus(t, p); has != want {
			t.Errorf("pod %s has the agent: %v, want %v", p.Name, has, want)
		}
	}
}

func labelNamespace(t *testing.T, ns string) {
	t.Helper()
	kubectl(t, "label", "namespace", ns, optin.NamespaceLabel+"="+optin.NamespaceEnabled)
}

// applyManifest runs kubectl apply on manifest and returns its output and error.
func applyManifest(t *testing.T, manifest string, extra ...string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := testCluster.Kubectl(t.Context(), append([]string{"apply", "-f", path}, extra...)...)
	return string(out), err
}

// policyManifest is a valid policy in ns for a Deployment named target, with spec
// lines appended (two-space indented under spec).
func policyManifest(ns, name, targetKind, targetAPIVersion, target string, specLines ...string) string {
	return `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  targetRef: {apiVersion: ` + targetAPIVersion + `, kind: ` + targetKind + `, name: ` + target + `}
  maxReplicas: 5
  metrics:
  - type: QueueDepth
    queueDepth: {averageValue: 4}
` + strings.Join(specLines, "\n") + "\n"
}
