//go:build e2e

package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/scaler/controller"
	"github.com/inferscale/inferscale/workload"
)

// seldonNamespace installs the SeldonDeployment CRD (with Seldon's /scale: spec.replicas and
// status.replicas, no selector) and returns a new namespace with the operator fixture running.
func seldonNamespace(t *testing.T) string {
	t.Helper()
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
	runSeldonOperator(t, ns)
	return ns
}

// shippedSeldonSample is manifests/samples/workloads/seldon-deployment.yaml in namespace ns.
func shippedSeldonSample(t *testing.T, ns string) string {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "manifests/samples/workloads/seldon-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "namespace: default", "namespace: "+ns)
}

// waitAbleToScale waits for the policy's AbleToScale condition to have reason.
func waitAbleToScale(t *testing.T, ns, policy, reason string, timeout time.Duration) *metav1.Condition {
	t.Helper()
	c := newClient(t)
	var cond *metav1.Condition
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var p v1alpha1.AutoscalingPolicy
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: policy}, &p); err != nil {
			return false, nil
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == v1alpha1.AbleToScale {
				cond = &p.Status.Conditions[i]
			}
		}
		return cond != nil && cond.Reason == reason, nil
	})
	if err != nil {
		t.Fatalf("AbleToScale %+v, want reason %s\n%s", cond, reason, scalerLog(t))
	}
	return cond
}

// The shipped sample, applied as shipped, is scaled: the operator fixture makes its Deployment
// iris-default-0-classifier, the pods report through their agents, and under load the scaler
// writes spec.replicas, which the operator rolls out to that Deployment. Then an HPA such as the
// operator creates from an hpaSpec on that Deployment holds the policy as a conflict.
func TestScalerScalesTheSeldonSampleAsTheOperatorDoes(t *testing.T) {
	ns := seldonNamespace(t)
	if out, err := applyManifest(t, shippedSeldonSample(t, ns)); err != nil {
		t.Fatalf("apply the sample: %v\n%s", err, out)
	} else if strings.Contains(out, "Warning: SeldonDeployment") {
		t.Errorf("applying the sample warned:\n%s", out)
	}
	const dep = "iris-default-0-classifier"
	operatorPods(t, ns, dep, 1)
	// The predictor's Service, as the operator makes it, fronted by the agent on the executor.
	ip := serviceFor(t, ns, "iris-default", map[string]string{"seldon-app": "iris-default"})
	// 100 req/s where a replica serves 40: above the sample's 50 req/s per replica, and p99
	// grows past 250 ms.
	startLoad(t, ns, clusterURL(ip, 80, "/v1/completions"), "40s@100")
	n, took := waitReplicas(t, ns, "iris", func() int32 { return replicas(t, ns, dep) }, func(n int32) bool { return n >= 2 }, 45*time.Second,
		"the sample's Deployment scaled through the SeldonDeployment's spec.replicas")
	t.Logf("Deployment %s at %d replicas %s after the load step", dep, n, took.Round(100*time.Millisecond))

	var sdep unstructured.Unstructured
	sdep.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	c := newClient(t)
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "iris"}, &sdep); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: dep, Labels: map[string]string{workload.SeldonDeploymentIDLabel: "iris"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: sdep.GetAPIVersion(), Kind: sdep.GetKind(), Name: "iris", UID: sdep.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: dep},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 5,
		},
	}
	if err := c.Create(t.Context(), hpa); err != nil {
		t.Fatalf("create the HPA: %v", err)
	}
	cond := waitAbleToScale(t, ns, "iris", v1alpha1.ReasonHPAConflict, 15*time.Second)
	if !strings.Contains(cond.Message, dep) {
		t.Errorf("AbleToScale message %q does not name the HPA's Deployment", cond.Message)
	}
}

// With two predictors (a main one and a canary, each its own Deployment of spec.replicas pods)
// the decision counts one predictor's pods: the scaler's target_pods gauge is 1 at one replica,
// while the SeldonDeployment has 2 ready pods.
func TestScalerCountsTheSeldonPodsOfOnePredictor(t *testing.T) {
	ns := seldonNamespace(t)
	sample := shippedSeldonSample(t, ns)
	twoPredictors := strings.Replace(sample, "  predictors:\n  - name: default\n", "  predictors:\n  - name: canary\n    graph: {name: classifier, implementation: SKLEARN_SERVER}\n  - name: default\n", 1)
	if twoPredictors == sample {
		t.Fatal("the sample's predictors changed: update this test")
	}
	if out, err := applyManifest(t, twoPredictors); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	operatorPods(t, ns, "iris-canary-0-classifier", 1)
	operatorPods(t, ns, "iris-default-0-classifier", 1)

	leaders, err := testCluster.Client.CoreV1().Pods(install.Namespace).List(t.Context(), metav1.ListOptions{LabelSelector: controller.LeaderLabel + "=true"})
	if err != nil || len(leaders.Items) != 1 {
		t.Fatalf("leader pods: %v (err %v), want exactly one", len(leaders.Items), err)
	}
	url := "http://" + net.JoinHostPort(leaders.Items[0].Status.PodIP, "8080") + "/metrics"
	series := `inferscale_scaler_target_pods{namespace="` + ns + `",policy="iris",state="ready"}`
	want := series + " 1"
	var last string
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = scrapeLine(ctx, url, series)
		return last == want, nil
	})
	if err != nil {
		t.Fatalf("scaler metric %q, want %q\n%s", last, want, kubectl(t, "-n", ns, "get", "pods", "--show-labels"))
	}
}

// scrapeLine returns the line of the Prometheus text at url that starts with prefix, or "".
func scrapeLine(ctx context.Context, url, prefix string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// A SeldonDeployment whose predictor sets its own replicas (which the operator prefers to
// spec.replicas, the field /scale writes): applying its policy warns, the policy is held with
// SeldonReplicasOverridden, and the operator's Deployment keeps the predictor's count.
func TestScalerRefusesSeldonPredictorReplicas(t *testing.T) {
	ns := seldonNamespace(t)
	sample := shippedSeldonSample(t, ns)
	fixed := strings.Replace(sample, "  - name: default\n", "  - name: default\n    replicas: 1\n", 1)
	sdep, policy, _ := strings.Cut(fixed, "\n---\n")
	if out, err := applyManifest(t, sdep); err != nil {
		t.Fatalf("apply the SeldonDeployment: %v\n%s", err, out)
	}
	out, err := applyManifest(t, policy)
	if err != nil {
		t.Fatalf("apply the policy: %v\n%s", err, out)
	}
	if !strings.Contains(out, "spec.predictors[0].replicas") || !strings.Contains(out, v1alpha1.ReasonSeldonReplicasOverridden) {
		t.Errorf("kubectl apply did not warn about the predictor's replicas:\n%s", out)
	}
	cond := waitAbleToScale(t, ns, "iris", v1alpha1.ReasonSeldonReplicasOverridden, 15*time.Second)
	if cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "spec.predictors[0].replicas") {
		t.Errorf("AbleToScale %+v, want False naming spec.predictors[0].replicas", cond)
	}
	// The operator fixture creates its Deployment on its own schedule: wait for it to exist.
	var n int32
	err = wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := testCluster.Client.AppsV1().Deployments(ns).Get(ctx, "iris-default-0-classifier", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		n = *d.Spec.Replicas
		return true, nil
	})
	if err != nil {
		t.Fatalf("the operator's Deployment iris-default-0-classifier never appeared: %v", err)
	}
	if n != 1 {
		t.Errorf("the operator's Deployment has %d replicas, want the predictor's 1", n)
	}
}
