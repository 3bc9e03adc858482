//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// A bare pod that names a policy's target Deployment as its controller (its UID is readable)
// and carries the labels of the Deployment's pods, pod-template-hash included, reports a queue
// ten times what the policy allows per replica, with a valid token of its own for the scaler's
// audience: every report is refused with the forged link named, the webhook gives it no agent,
// and the Deployment stays at one replica. The same reports from the Deployment's own pod then
// scale it up.
func TestScalerRefusesReportsOfAPodWithAForgedOwnerReference(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name = "chainmodel"
	// Not opted in: the test posts every report itself, so nothing but its own reports counts.
	dep := createDeployment(t, ns, modelDeployment(name, 1, nil, nil))
	genuine := readyPods(t, ns, name, 1)[0]
	applyPolicy(t, scalerPolicy(ns, name, "apps/v1", "Deployment", name, 3))

	forged, err := testCluster.Client.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "forged", Labels: genuine.Labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: dep.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}}},
		Spec: modelPodSpec(),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the forged pod: %v", err)
	}
	wantAgent(t, []corev1.Pod{*forged}, false)

	sc := newScalerClient(t)
	post := func(pod *corev1.Pod, tok string, queue float64) (int, string) {
		t.Helper()
		now := time.Now()
		return sc.post(&reportv1.Report{
			APIVersion: reportv1.APIVersion,
			Pod:        reportv1.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)},
			Interval:   reportv1.Interval{Start: now.Add(-500 * time.Millisecond), End: now},
			InFlight:   reportv1.Gauge{Average: queue, Max: queue},
			Queue:      reportv1.Gauge{Average: queue, Max: queue},
		}, tok)
	}
	genuineTok, forgedTok := sc.token(genuine, "inferscale-scaler"), sc.token(*forged, "inferscale-scaler")
	// Accepted once the policy's first tick has set up its windows (a retryable 503 until then).
	var got int
	var msg string
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got, msg = post(&genuine, genuineTok, 0)
		return got != http.StatusServiceUnavailable, nil
	})
	if err != nil || got != http.StatusAccepted {
		t.Fatalf("the Deployment's pod: %d %s, want 202", got, msg)
	}

	// A stable window and more: had the forged pod's queue of 40 counted, the target would be
	// at 3 replicas within a tick or two.
	const forgedLink = "pod forged names Deployment " + name + " as its controller, but a Deployment does not control Pods"
	for deadline := time.Now().Add(12 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if got, msg := post(forged, forgedTok, 40); got != http.StatusForbidden || !strings.Contains(msg, forgedLink) {
			t.Fatalf("the forged pod's report: %d %s, want 403 naming the forged link", got, msg)
		}
		if got, msg := post(&genuine, genuineTok, 0); got != http.StatusAccepted {
			t.Fatalf("the Deployment's pod: %d %s, want 202", got, msg)
		}
	}
	if n := replicas(t, ns, name); n != 1 {
		t.Fatalf("the forged pod's reports moved the Deployment to %d replicas", n)
	}

	// The same reports from the Deployment's own pod count.
	start := time.Now()
	n := int32(1)
	for time.Since(start) < 30*time.Second && n < 2 {
		if got, msg := post(&genuine, genuineTok, 40); got != http.StatusAccepted {
			t.Fatalf("the Deployment's pod: %d %s, want 202", got, msg)
		}
		time.Sleep(500 * time.Millisecond)
		n = replicas(t, ns, name)
	}
	if n < 2 {
		t.Fatalf("the Deployment's own pod's queue of 40 left it at %d replicas after 30s\npolicy:\n%s\nscaler log:\n%s", n,
			kubectl(t, "-n", ns, "get", "asp", name, "-o", "yaml"), scalerLog(t))
	}
	t.Logf("the Deployment's own pod's reports scaled it to %d replicas in %s; the forged pod's identical reports did not", n, time.Since(start).Round(100*time.Millisecond))
}
