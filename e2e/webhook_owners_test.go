//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

// An annotated StatefulSet's pods get the agent: the webhook reads StatefulSets (its RBAC
// and informers cover every owner kind it walks), so the annotation on the StatefulSet
// itself, not only on its pod template, opts its pods in.
func TestWebhookInjectsAnnotatedStatefulSet(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	l := map[string]string{"app": "web"}
	_, err := testCluster.Client.AppsV1().StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{optin.AnnotationInject: "true"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: modelPodSpec()},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create statefulset: %v", err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := testCluster.Client.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 1, err
	})
	if err != nil {
		t.Fatalf("the StatefulSet's pod never became ready: %v\n%s", err, kubectl(t, "-n", ns, "describe", "pods"))
	}
	wantAgent(t, podsOf(t, ns, l), true)
}

// Pods whose owner is a kind the webhook may not read (a Job, a custom kind) are decided at
// once from what the pod says, never by waiting on an informer for that kind. The acceptance
// bound is a second; the failure it guards against took over 5 s per pod (an informer
// waited for until the webhook's own timeout), so the margin is wide on any machine.
func TestWebhookAdmitsPodsOfUnreadableKindsAtOnce(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	for _, owner := range []metav1.OwnerReference{
		{APIVersion: "batch/v1", Kind: "Job", Name: "train", UID: "00000000-0000-0000-0000-00000000000a", Controller: ptr.To(true)},
		{APIVersion: "leaderworkerset.x-k8s.io/v1", Kind: "LeaderWorkerSet", Name: "lws", UID: "00000000-0000-0000-0000-00000000000b", Controller: ptr.To(true)},
		{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "00000000-0000-0000-0000-00000000000c", Controller: ptr.To(true)},
	} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: owner.Name + "-", Annotations: map[string]string{optin.AnnotationInject: "true"},
				OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: modelPodSpec(),
		}
		var slowest time.Duration
		for range 5 {
			start := time.Now()
			created, err := testCluster.Client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			d := time.Since(start)
			if err != nil {
				t.Fatalf("create a pod owned by %s: %v", owner.Kind, err)
			}
			if created.Annotations[inject.AnnotationStatus] == "" {
				t.Errorf("a pod owned by %s was admitted without the agent", owner.Kind)
			}
			slowest = max(slowest, d)
		}
		t.Logf("pod owned by %s %s: slowest of 5 admissions %s", owner.APIVersion, owner.Kind, slowest)
		if slowest >= time.Second {
			t.Errorf("admitting a pod owned by %s took %s: the webhook waited on a kind it cannot read", owner.Kind, slowest)
		}
	}
}
