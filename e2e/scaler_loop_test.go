//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"
)

// The full loop on the real cluster: a model server whose latency and queue grow with load,
// opted in and scaled by a policy on queue depth. A load step through its Service scales it
// up within seconds; when the load stops it scales back to one replica after the policy's
// (short) stabilization window.
func TestScalerScalesUpUnderLoadAndBackDown(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name = "slowmodel"
	// One pod serves 4 requests at once for 100 ms each: 40 req/s.
	createDeployment(t, ns, slowModelDeployment(name, 1, 100*time.Millisecond, 4))
	readyPods(t, ns, name, 1)
	ip := serviceFor(t, ns, name, map[string]string{"app": name})
	applyPolicy(t, scalerPolicy(ns, name, "apps/v1", "Deployment", name, 5))
	// As a GitOps health check or a script would wait for it.
	kubectl(t, "-n", ns, "wait", "--for=condition=Ready", "--timeout=60s", "autoscalingpolicy/"+name)
	if ready := kubectl(t, "-n", ns, "get", "asp", name, "-o", "custom-columns=READY:.status.conditions[?(@.type==\"Ready\")].status", "--no-headers"); strings.TrimSpace(ready) != "True" {
		t.Errorf("kubectl get asp: Ready = %q after kubectl wait, want True", ready)
	}

	// 100 req/s for 40 s: two and a half times what one pod serves.
	startLoad(t, ns, clusterURL(ip, 80, "/v1/completions"), "40s@100")
	read := func() int32 { return replicas(t, ns, name) }
	n, took := waitReplicas(t, ns, name, read, func(n int32) bool { return n >= 3 }, 30*time.Second, "scale-up under load")
	t.Logf("scaled up to %d replicas %s after the load step", n, took.Round(100*time.Millisecond))

	// The profile ends after 40 s; then the stable window (10 s) passes without burst, and
	// the scale-down stabilization (10 s) and policy (100% per 5 s) let it down to 1.
	n, took = waitReplicas(t, ns, name, read, func(n int32) bool { return n == 1 }, 120*time.Second, "scale-down after the load")
	t.Logf("scaled down to %d replica %s after the scale-up", n, took.Round(100*time.Millisecond))
	if out := kubectl(t, "-n", ns, "get", "events", "--field-selector", "reason=SuccessfulRescale", "-o", "custom-columns=MESSAGE:.message", "--no-headers"); !strings.Contains(out, "New size") {
		t.Error("no SuccessfulRescale Events on the policy")
	}
}
