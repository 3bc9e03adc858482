//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/webhook/inject"
)

// Two policies under a cpu AutoscalingBudget that cannot hold both peaks: each target's pods
// request 200m (model 190m, agent 10m) and the budget holds 800m, 4 replicas, while the load
// on each asks for 3. The higher priority gets its 3, the lower (preemptible) one is held at
// its minimum with the budget's reason on its status, and no pod is ever left Unschedulable.
func TestScalerBudgetServesHigherPriorityFirst(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	budgetName := "cpu-" + ns
	if out, err := applyManifest(t, fmt.Sprintf(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingBudget
metadata: {name: %s}
spec:
  resource: cpu
  max: 800m
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}
`, budgetName, ns)); err != nil {
		t.Fatalf("apply budget: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := testCluster.Kubectl(context.Background(), "delete", "asb", budgetName, "--wait=false"); err != nil {
			t.Errorf("delete budget: %v\n%s", err, out)
		}
	})

	urls := map[string]string{}
	for _, name := range []string{"hi", "lo"} {
		// One pod serves 4 requests at once for 100 ms each: 40 req/s.
		d := slowModelDeployment(name, 1, 100*time.Millisecond, 4)
		d.Spec.Template.Annotations[inject.AnnotationSidecarCPU] = "10m"
		d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("190m")}
		createDeployment(t, ns, d)
		urls[name] = clusterURL(serviceFor(t, ns, name, map[string]string{"app": name}), 80, "/v1/completions")
	}
	readyPods(t, ns, "hi", 1)
	readyPods(t, ns, "lo", 1)
	applyPolicy(t, strings.Replace(scalerPolicy(ns, "hi", "apps/v1", "Deployment", "hi", 3), "  minReplicas: 1\n", "  minReplicas: 1\n  priority: 100\n", 1))
	applyPolicy(t, strings.Replace(scalerPolicy(ns, "lo", "apps/v1", "Deployment", "lo", 3), "  minReplicas: 1\n", "  minReplicas: 1\n  preemptible: true\n", 1))

	// Unschedulable pods, watched for the whole test.
	var unschedulable []string
	check := func() {
		pods, err := testCluster.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return
		}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
					unschedulable = append(unschedulable, p.Name+": "+c.Message)
				}
			}
		}
	}

	// 100 req/s on each for 60 s: two and a half pods' worth each.
	start := time.Now()
	startLoad(t, ns, urls["hi"], "60s@100")
	startLoad(t, ns, urls["lo"], "60s@100")
	hi := func() int32 { check(); return replicas(t, ns, "hi") }
	n, _ := waitReplicas(t, ns, "hi", hi, func(n int32) bool { return n == 3 }, 45*time.Second, "the higher priority's scale-up")
	t.Logf("hi (priority 100) at %d replicas %s after its load started", n, time.Since(start).Round(100*time.Millisecond))

	// lo asks for 3 too but is held at 1 (or preempted back to it), and says why.
	var reason, message string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		check()
		out := kubectl(t, "-n", ns, "get", "asp", "lo", "-o", `jsonpath={.status.conditions[?(@.type=="ScalingLimited")].reason}{"|"}{.status.conditions[?(@.type=="ScalingLimited")].message}`)
		reason, message, _ = strings.Cut(out, "|")
		return (reason == "BudgetLimited" || reason == "BudgetPreempted") && replicas(t, ns, "lo") == 1, nil
	})
	if err != nil {
		t.Fatalf("lo: replicas %d, ScalingLimited %s %q; want 1 replica, limited by the budget\n%s\nscaler log:\n%s", replicas(t, ns, "lo"), reason, message,
			kubectl(t, "get", "asb", budgetName, "-o", "yaml"), scalerLog(t))
	}
	// lo's demand moves with its load (2 or 3 replicas); the rest of the words are fixed.
	want := regexp.MustCompile(`^budget ` + regexp.QuoteMeta(budgetName) + `: 800m of 800m cpu in use; granted 1 of [23] replicas to ` + regexp.QuoteMeta(ns) + `/lo \(priority 0\)`)
	if !want.MatchString(message) {
		t.Errorf("lo's ScalingLimited message %q, want it to match %s", message, want)
	}
	t.Logf("lo (priority 0): %s: %s", reason, message)

	// The budget's status shows used/limit and each grant, and the trim is an Event. The status
	// is written every period from each policy's latest claim, so it may take a period or two to
	// show the claims of the same moment.
	var status string
	shown := func(context.Context) (bool, error) {
		status = kubectl(t, "get", "asb", budgetName, "-o", `jsonpath={.status.used}{" "}{.status.requested}{" "}{range .status.policies[*]}{.name}={.grantedReplicas}/{.requestedReplicas}{" "}{end}`)
		return strings.HasPrefix(status, "800m ") && strings.Contains(status, "hi=3/3") && regexp.MustCompile(`lo=1/[23] `).MatchString(status), nil
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 10*time.Second, true, shown); err != nil {
		t.Errorf("budget status %q: want 800m used, hi=3/3, lo=1/2 or 1/3", status)
	}
	t.Logf("budget %s: used, requested, granted/requested: %s", budgetName, status)
	events := kubectl(t, "-n", ns, "get", "events.events.k8s.io", "--field-selector", "regarding.name=lo", "-o", "custom-columns=REASON:.reason", "--no-headers")
	if !strings.Contains(events, "BudgetLimited") && !strings.Contains(events, "BudgetPreempted") {
		t.Errorf("no budget Event on lo; its Events: %q", events)
	}

	check()
	if replicas(t, ns, "hi")+replicas(t, ns, "lo") > 4 {
		t.Errorf("the targets ask for %d + %d replicas, more than the budget's 4", replicas(t, ns, "hi"), replicas(t, ns, "lo"))
	}
	if len(unschedulable) > 0 {
		t.Errorf("pods left Unschedulable: %q", unschedulable)
	}
}
