//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/webhook/optin"
	"github.com/inferscale/inferscale/workload"
)

// A SeldonDeployment, whose /scale has no selector (HPA cannot target it), is scaled through
// its /scale: its pods (Deployment owned by the SeldonDeployment, Seldon's labels) report
// through their agents, the scaler attributes them through the owner chain, and under load
// writes spec.replicas of the SeldonDeployment. There is no Seldon operator here, so the
// test checks the SeldonDeployment's replicas, which the operator would roll out.
func TestScalerScalesSeldonDeploymentThroughScale(t *testing.T) {
	requireInferscale(t)
	// The CRD may still be going away after another test deleted it.
	err := wait.PollUntilContextTimeout(t.Context(), time.Second, time.Minute, true, func(context.Context) (bool, error) {
		_, err := applyManifest(t, seldonCRD)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("install the SeldonDeployment CRD: %v", err)
	}
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/seldondeployments.machinelearning.seldon.io")
	ns := newNamespace(t)

	c := newClient(t)
	sdep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "machinelearning.seldon.io/v1",
		"kind":       "SeldonDeployment",
		"metadata":   map[string]any{"name": "iris", "namespace": ns, "annotations": map[string]any{optin.AnnotationInject: "true"}},
		"spec": map[string]any{"replicas": int64(1), "predictors": []any{map[string]any{
			"name": "default", "replicas": int64(1),
			"graph": map[string]any{"name": "classifier", "implementation": "SKLEARN_SERVER"},
		}}},
	}}
	if err := c.Create(t.Context(), sdep); err != nil {
		t.Fatalf("create SeldonDeployment: %v", err)
	}
	l := map[string]string{"app": "iris-default", workload.SeldonDeploymentIDLabel: "iris", workload.ManagedByLabel: workload.SeldonManager}
	createDeployment(t, ns, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "iris-default", Labels: l, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "machinelearning.seldon.io/v1", Kind: "SeldonDeployment", Name: "iris", UID: sdep.GetUID(),
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					// The executor, where a SeldonDeployment's traffic enters: 4 at once, 100 ms each.
					Name: "seldon-container-engine", Image: modelServer.Ref, ImagePullPolicy: corev1.PullNever,
					Args:  []string{"-listen=:8000", "-service-time=100ms", "-concurrency=4"},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	})
	readyPods(t, ns, "iris-default", 1)
	ip := serviceFor(t, ns, "iris", map[string]string{workload.SeldonDeploymentIDLabel: "iris"})
	applyPolicy(t, scalerPolicy(ns, "iris", "machinelearning.seldon.io/v1", "SeldonDeployment", "iris", 4))

	startLoad(t, ns, clusterURL(ip, 80, "/v1/completions"), "40s@100")
	read := func() int32 {
		var u unstructured.Unstructured
		u.SetGroupVersionKind(sdep.GroupVersionKind())
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "iris"}, &u); err != nil {
			t.Fatalf("get SeldonDeployment: %v", err)
		}
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		return int32(n)
	}
	n, took := waitReplicas(t, ns, "iris", read, func(n int32) bool { return n >= 2 }, 45*time.Second, "SeldonDeployment scale-up under load")
	t.Logf("SeldonDeployment scaled to %d replicas through /scale %s after the load step", n, took.Round(100*time.Millisecond))
}
