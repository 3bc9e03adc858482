//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/scaler/controller"
)

// Killing the scaler's leader under steady load never drops replicas: the other replica takes
// the lease and the leader label, starts with empty windows, and holds scale-downs until it
// has a whole stable window of reports and a scale-down stabilization window after that.
func TestScalerRestartUnderLoadKeepsReplicas(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name = "steadymodel"
	createDeployment(t, ns, slowModelDeployment(name, 1, 100*time.Millisecond, 4))
	readyPods(t, ns, name, 1)
	ip := serviceFor(t, ns, name, map[string]string{"app": name})
	applyPolicy(t, scalerPolicy(ns, name, "apps/v1", "Deployment", name, 5))

	// 80 req/s, twice what one pod serves, for longer than the test needs.
	startLoad(t, ns, clusterURL(ip, 80, "/v1/completions"), "180s@80")
	read := func() int32 { return replicas(t, ns, name) }
	waitReplicas(t, ns, name, read, func(n int32) bool { return n >= 2 }, 30*time.Second, "scale-up under load")
	// The load step bursts to the maximum, and burst mode holds that until a stable window
	// passes without burst, then the scale-down stabilization window holds the burst's
	// recommendation: an unchanged count alone does not say the scaler is at rest (it was
	// still holding 5 from the burst 27 s after the last change). Wait until the count has not
	// changed for longer than the stable window plus the scale-down stabilization (20 s) and
	// the scaler's last decision kept exactly the current count for want of any other
	// (status current = desired = the count, AbleToScale ReadyForNewScale: no burst, no
	// stabilized scale-down pending; ReadyForNewScale alone is also what the tick that scales
	// down says): only then is a drop after the failover the new leader's doing.
	status := func() string {
		out, _ := testCluster.Kubectl(t.Context(), "-n", ns, "get", "asp", name, "-o",
			`jsonpath={.status.currentReplicas}/{.status.desiredReplicas}/{.status.conditions[?(@.type=="AbleToScale")].reason}`)
		return string(out)
	}
	before, changed := read(), time.Now()
	atRest := func() bool { return status() == fmt.Sprintf("%d/%d/ReadyForNewScale", before, before) }
	for settleBy := time.Now().Add(100 * time.Second); time.Since(changed) < 25*time.Second || !atRest(); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(settleBy) {
			t.Fatalf("replicas never settled under steady load (last %d, status %s)\n%s", before, status(), scalerLog(t))
		}
		if n := read(); n != before {
			before, changed = n, time.Now()
		}
	}

	pods, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("leader pods: %d (err %v), want one", len(pods.Items), err)
	}
	leader := pods.Items[0].Name
	kubectl(t, "-n", install.Namespace, "delete", "pod", leader, "--wait=false")
	t.Logf("deleted leader %s at %d replicas", leader, before)

	// Over the next minute (a new leader, empty windows, refilling) the count never drops.
	lowest := before
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		lowest = min(lowest, read())
	}
	if lowest < before {
		t.Errorf("replicas dropped from %d to %d after the scaler's leader was deleted\nscaler log:\n%s", before, lowest, scalerLog(t))
	}
	pods, err = testCluster.Client.CoreV1().Pods(install.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Name == leader {
		t.Errorf("after failover, leader-labelled pods = %v (err %v), want one other than %s", len(pods.Items), err, leader)
	}
}
