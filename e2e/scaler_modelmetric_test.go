//go:build e2e

package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/webhook/optin"
)

// llamaSample is manifests/samples/workloads/llama-deployment.yaml, read from the repository,
// made to run on the test cluster. What differs from the file, and why:
//   - the namespace is the test's;
//   - the image is the e2e model server (vLLM's --model and --port flags, /health and
//     vllm:num_requests_waiting), run from the local image store;
//   - the GPU limit and the policy's GPU metric are dropped: the cluster has no GPU, and a GPU
//     metric without readings is invalid, which holds every scale-down;
//   - the policy's windows are short (a 10 s stable window, a 3 s burst window, scale-down
//     after 10 s at 100 % per 5 s) so the test sees a whole cycle in about a minute.
//
// The annotations, args, ports, probe, Service and the other metrics are the file's.
func llamaSample(t *testing.T, ns string) (policy *v1alpha1.AutoscalingPolicy, dep *appsv1.Deployment, svc *corev1.Service) {
	t.Helper()
	raw, err := os.ReadFile(repoPath(t, "manifests/samples/workloads/llama-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("the llama sample has %d documents, want policy, Deployment, Service", len(docs))
	}
	policy, dep, svc = new(v1alpha1.AutoscalingPolicy), new(appsv1.Deployment), new(corev1.Service)
	for i, into := range []any{policy, dep, svc} {
		if err := yaml.UnmarshalStrict([]byte(docs[i]), into); err != nil {
			t.Fatalf("document %d of the llama sample: %v", i, err)
		}
	}
	for _, m := range []*string{&policy.Namespace, &dep.Namespace, &svc.Namespace} {
		*m = ns
	}
	c := &dep.Spec.Template.Spec.Containers[0]
	c.Image, c.ImagePullPolicy = modelServer.Ref, corev1.PullNever
	delete(c.Resources.Limits, "nvidia.com/gpu")

	var metrics []v1alpha1.MetricSpec
	for _, m := range policy.Spec.Metrics {
		if m.Type != v1alpha1.GPUMetricType {
			metrics = append(metrics, m)
		}
	}
	policy.Spec.Metrics = metrics
	policy.Spec.StableWindowSeconds = ptr.To[int32](10)
	policy.Spec.Burst = &v1alpha1.BurstSpec{WindowSeconds: ptr.To[int32](3)}
	policy.Spec.Behavior = &v1alpha1.Behavior{
		ScaleUp: &v1alpha1.ScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
		ScaleDown: &v1alpha1.ScalingRules{StabilizationWindowSeconds: ptr.To[int32](10),
			Policies: []v1alpha1.ScalingPolicy{{Type: v1alpha1.PercentScalingPolicy, Value: 100, PeriodSeconds: 5}}},
	}
	return policy, dep, svc
}

// applyObjects applies the objects with kubectl, in order, as one file.
func applyObjects(t *testing.T, objs ...any) {
	t.Helper()
	var docs []string
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if out, err := applyManifest(t, strings.Join(docs, "---\n")); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// The shipped llama sample, annotations untouched (only model-metrics-path): the webhook tells
// the agent to scrape vllm:num_requests_waiting because the policy scales on it, so the metric
// is valid, the policy scales up under load and, since no invalid metric holds it, back down.
func TestLlamaSampleScalesUpAndDownOnItsModelMetric(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	policy, dep, svc := llamaSample(t, ns)
	policy.TypeMeta.APIVersion, policy.TypeMeta.Kind = v1alpha1.GroupVersion.String(), "AutoscalingPolicy"
	dep.TypeMeta.APIVersion, dep.TypeMeta.Kind = "apps/v1", "Deployment"
	svc.TypeMeta.APIVersion, svc.TypeMeta.Kind = "v1", "Service"
	applyObjects(t, policy, dep, svc)
	readyPods(t, ns, dep.Name, 1)
	s, err := testCluster.Client.CoreV1().Services(ns).Get(t.Context(), svc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// One pod serves 4 requests at once for 50 ms (80 req/s); 160 req/s for 30 s queue up in
	// the model server, which is what vllm:num_requests_waiting counts.
	stop := startLoad(t, ns, clusterURL(s.Spec.ClusterIP, 80, "/v1/completions"), "30s@160")
	read := func() int32 { return replicas(t, ns, dep.Name) }
	n, took := waitReplicas(t, ns, policy.Name, read, func(n int32) bool { return n >= 2 }, 40*time.Second, "scale-up under load")
	t.Logf("scaled up to %d replicas %s after the load step", n, took.Round(100*time.Millisecond))
	waitModelMetricQueued(t, ns, policy.Name, "vllm:num_requests_waiting")

	n, took = waitReplicas(t, ns, policy.Name, read, func(n int32) bool { return n == 1 }, 90*time.Second, "scale-down after the load")
	stop()
	t.Logf("scaled down to %d replica %s after the scale-up", n, took.Round(100*time.Millisecond))
}

// waitModelMetricQueued waits until the policy's status shows the gauge above zero per replica:
// the queue the load builds in the model server reaches the policy through the agents.
func waitModelMetricQueued(t *testing.T, ns, name, gauge string) {
	t.Helper()
	c := newClient(t)
	var p v1alpha1.AutoscalingPolicy
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
			return false, nil
		}
		for _, m := range p.Status.CurrentMetrics {
			if v, err := strconv.ParseFloat(m.Current, 64); m.Type == v1alpha1.ModelMetricType && m.Name == gauge && err == nil && v > 0 {
				t.Logf("%s: %s per replica (target %s), recommends %d", gauge, m.Current, m.Target, m.RecommendedReplicas)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the policy's status never shows %s above zero under load: %+v", gauge, p.Status)
	}
}

// waitCondition waits until the policy's condition of type cond has the reason and returns it.
func waitCondition(t *testing.T, c client.Client, ns, name, cond, reason string, timeout time.Duration) metav1.Condition {
	t.Helper()
	var p v1alpha1.AutoscalingPolicy
	var got *metav1.Condition
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
			return false, nil
		}
		got = meta.FindStatusCondition(p.Status.Conditions, cond)
		return got != nil && got.Reason == reason, nil
	})
	if err != nil {
		t.Fatalf("%s never had reason %s: conditions %+v\nscaler log:\n%s", cond, reason, p.Status.Conditions, scalerLog(t))
	}
	return *got
}

// A policy on a gauge the model server does not export (vLLM V1 dropped
// vllm:num_requests_swapped). Its pod predates the policy, so first the condition says its
// agent was not told to scrape it; after a restart the new pod's agent scrapes it, and the
// condition says the server does not export it. Both name the gauge and the pod.
func TestUnscrapeableModelMetricNamesGaugeAndPods(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name, gauge = "swapped", "vllm:num_requests_swapped"
	createDeployment(t, ns, modelDeployment(name, 1, nil, map[string]string{optin.AnnotationInject: "true"}))
	old := readyPods(t, ns, name, 1)[0].Name
	applyPolicy(t, policyManifest(ns, name, "Deployment", "apps/v1", name,
		"  - type: ModelMetric", `    modelMetric: {name: "`+gauge+`", averageValue: 5}`, "  stableWindowSeconds: 6"))

	c := newClient(t)
	// QueueDepth is valid and at the minimum, so the invalid ModelMetric holds a scale-down
	// that is not asked for; ScalingActive shows it only when every metric is invalid or it
	// holds one. Scale up by hand to 2 so that the policy wants to come down to 1.
	kubectl(t, "-n", ns, "scale", "deployment/"+name, "--replicas=2")
	cond := waitCondition(t, c, ns, name, v1alpha1.ScalingActive, v1alpha1.ReasonFailedGetModelMetric, 45*time.Second)
	for _, want := range []string{gauge, old, "not told to scrape it"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("message %q lacks %q", cond.Message, want)
		}
	}
	t.Logf("before the restart: %s", cond.Message)

	kubectl(t, "-n", ns, "rollout", "restart", "deployment/"+name)
	var p v1alpha1.AutoscalingPolicy
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
			return false, nil
		}
		got := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ScalingActive)
		return got != nil && got.Reason == v1alpha1.ReasonFailedGetModelMetric &&
			strings.Contains(got.Message, "does not export it") && !strings.Contains(got.Message, "not told"), nil
	})
	if err != nil {
		t.Fatalf("after the restart the condition never says the server does not export %s: %+v\nscaler log:\n%s", gauge, p.Status.Conditions, scalerLog(t))
	}
	msg := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ScalingActive).Message
	if !strings.Contains(msg, gauge) || strings.Contains(msg, old) {
		t.Errorf("message %q: want the gauge and the new pods only", msg)
	}
	t.Logf("after the restart: %s", msg)
}

// kubectl apply of a policy prints the webhook's warnings: a gauge named like an agent preset,
// and a target whose pod template opts out of the agent, so nothing would scrape its gauges.
// Both policies are admitted.
func TestPolicyAdmissionWarnsAboutUnscrapedGauges(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const name = "optedout"
	d := modelDeployment(name, 0, nil, map[string]string{optin.AnnotationInject: "false"})
	createDeployment(t, ns, d)

	out, err := applyManifest(t, policyManifest(ns, name, "Deployment", "apps/v1", name,
		"  - type: ModelMetric", `    modelMetric: {name: "vllm:num_requests_waiting", averageValue: 5}`))
	if err != nil {
		t.Fatalf("the policy is refused: %v\n%s", err, out)
	}
	want := `Warning: spec.metrics[1].modelMetric.name: the pods of Deployment ` + name +
		` get no agent (annotation inferscale.io/inject: "false" on its pod template), so nothing scrapes vllm:num_requests_waiting`
	if !strings.Contains(out, want) {
		t.Errorf("kubectl apply printed %q, want the warning %q", out, want)
	}

	out, err = applyManifest(t, policyManifest(ns, "preset", "Deployment", "apps/v1", "not-yet",
		"  - type: ModelMetric", `    modelMetric: {name: "vllm", averageValue: 5}`))
	if err != nil {
		t.Fatalf("the policy is refused: %v\n%s", err, out)
	}
	if want := `Warning: spec.metrics[1].modelMetric.name: "vllm" is the name of an agent preset`; !strings.Contains(out, want) {
		t.Errorf("kubectl apply printed %q, want the warning %q", out, want)
	}
}
