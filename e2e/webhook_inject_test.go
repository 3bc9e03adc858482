//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

func createService(t *testing.T, ns, name string, targetPort intstr.IntOrString) *corev1.Service {
	t.Helper()
	svc, err := testCluster.Client.CoreV1().Services(ns).Create(t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: targetPort}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return svc
}

// An annotated Deployment's pods run with the agent sidecar, which took over the model
// port's name: the Service that targets the name sends its traffic through the agent,
// which measures it, while the model's probe (by name) was rewritten to the number.
func TestWebhookInjectsAnnotatedDeploymentServingThroughAgent(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	svc := createService(t, ns, "llama", intstr.FromString("http"))
	createDeployment(t, ns, modelDeployment("llama", 2, nil, map[string]string{optin.AnnotationInject: "true"}))
	pods := readyPods(t, ns, "llama", 2)
	wantAgent(t, pods, true)

	pod := pods[0]
	st, _ := agentStatus(t, pod)
	want := inject.Status{Container: inject.ContainerName, Image: "inferscale/inferscale-agent:v0.1.0", Version: "v0.1.0",
		Volumes: []string{inject.TokenVolumeName, inject.CAVolumeName}, FrontedContainer: "model", FrontedPort: 8000, PortName: "http",
		ListenPort: 9080, AdminPort: 9090, Protocol: "http"}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("status %+v, want %+v", st, want)
	}
	model := pod.Spec.Containers[0]
	if model.Ports[0].Name != "" || model.ReadinessProbe.HTTPGet.Port != intstr.FromInt32(8000) {
		t.Errorf("model container ports %+v, probe port %s: want the name taken and the probe on 8000",
			model.Ports, model.ReadinessProbe.HTTPGet.Port.String())
	}

	// The EndpointSlice resolves the Service's named target port to the agent's.
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		slices, err := testCluster.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=llama"})
		if err != nil {
			return false, err
		}
		for _, s := range slices.Items {
			for _, p := range s.Ports {
				if p.Port != nil && *p.Port == 9080 {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the Service's endpoints never pointed at the agent's port 9080: %v\n%s", err, kubectl(t, "-n", ns, "get", "endpointslices", "-o", "yaml"))
	}

	out := runClientPod(t, ns,
		clusterURL(svc.Spec.ClusterIP, 80, "/v1/completions"),
		clusterURL(svc.Spec.ClusterIP, 80, "/v1/completions?stream=true"),
		clusterURL(pods[0].Status.PodIP, 9090, "/metrics"),
		clusterURL(pods[1].Status.PodIP, 9090, "/metrics"))
	for _, want := range []string{`"object":"text_completion"`, "data: [DONE]", "inferscale_agent_request_duration_seconds"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !measuredRequests(out, "inferscale_agent_request_duration_seconds_count") {
		t.Errorf("neither agent counted a request, so the Service's traffic bypassed them:\n%s", out)
	}
	// The streamed completion's 8 token events gave its agent a time per output token.
	if !measuredRequests(out, "inferscale_agent_time_per_output_token_seconds_count") {
		t.Errorf("neither agent measured a time per output token of the streamed completion:\n%s", out)
	}
}

// measuredRequests reports whether an agent's /metrics has the counter named at least 1.
func measuredRequests(metrics, counter string) bool {
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, counter) {
			fields := strings.Fields(line)
			if len(fields) == 2 && fields[1] != "0" {
				return true
			}
		}
	}
	return false
}

// Pods that did not opt in are untouched.
func TestWebhookLeavesPodsThatDidNotOptIn(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	createDeployment(t, ns, modelDeployment("plain", 1, nil, nil))
	pods := readyPods(t, ns, "plain", 1)
	wantAgent(t, pods, false)
	if pods[0].Spec.Containers[0].Ports[0].Name != "http" {
		t.Errorf("ports %+v changed", pods[0].Spec.Containers[0].Ports)
	}
}

// The nearest explicit annotation wins: the pod template's "false" over the Deployment's
// "true" and over the namespace label.
func TestWebhookOptOutWins(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	labelNamespace(t, ns)
	createDeployment(t, ns, modelDeployment("out", 1,
		map[string]string{optin.AnnotationInject: "true"}, map[string]string{optin.AnnotationInject: "false"}))
	wantAgent(t, readyPods(t, ns, "out", 1), false)
}

// A namespace label opts in every pod of the namespace; an annotation on the Deployment
// (not its template) opts in through the owner chain.
func TestWebhookNamespaceLabelAndOwnerOptIn(t *testing.T) {
	requireInferscale(t)
	labelled := newNamespace(t)
	labelNamespace(t, labelled)
	createDeployment(t, labelled, modelDeployment("by-namespace", 1, nil, nil))
	wantAgent(t, readyPods(t, labelled, "by-namespace", 1), true)

	ns := newNamespace(t)
	createDeployment(t, ns, modelDeployment("by-owner", 1, map[string]string{optin.AnnotationInject: "true"}, nil))
	wantAgent(t, readyPods(t, ns, "by-owner", 1), true)
}

// A Deployment that an AutoscalingPolicy targets gets the agent without any annotation.
func TestWebhookPolicyTargetOptsIn(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	if out, err := applyManifest(t, policyManifest(ns, "target", "Deployment", "apps/v1", "targeted")); err != nil {
		t.Fatalf("policy: %v\n%s", err, out)
	}
	waitPolicyVisible(t, ns, "targeted")
	createDeployment(t, ns, modelDeployment("targeted", 1, nil, nil))
	wantAgent(t, readyPods(t, ns, "targeted", 1), true)
}

// waitPolicyVisible waits until the webhook's informer has the policy for a Deployment
// named target: a second policy for it is then refused.
func waitPolicyVisible(t *testing.T, ns, target string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, err := applyManifest(t, policyManifest(ns, "probe", "Deployment", "apps/v1", target), "--dry-run=server")
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("the webhook never saw the policy for %s", target)
	}
}

var seldonCRD = crdWithScale("machinelearning.seldon.io", "v1", "SeldonDeployment", "seldondeployments", "sdep")

// crdWithScale is a CustomResourceDefinition that keeps any field, with status and a /scale
// on spec.replicas and status.replicas (no selector), as Seldon's and MatrixInfer's have.
func crdWithScale(group, version, kind, plural string, shortNames ...string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[4]s.%[1]s}
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: %[3]s, plural: %[4]s, singular: %[5]s, shortNames: [%[6]s]}
  versions:
  - name: %[2]s
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
`, group, version, kind, plural, strings.ToLower(kind), strings.Join(shortNames, ", "))
}

// The pods of a SeldonDeployment get the agent: the SeldonDeployment itself carries the
// annotation (not its spec.annotations, which Seldon copies to its pods), so the webhook finds
// it up the owner chain of the Deployment the operator fixture makes, with the operator's labels
// and two containers (the model on 9000/9500 and the executor on 8000/5001). The agent fronts
// the executor, where the SeldonDeployment's traffic enters.
func TestWebhookInjectsSeldonDeploymentPods(t *testing.T) {
	ns := seldonNamespace(t)
	t.Cleanup(func() {
		if out, err := testCluster.Kubectl(context.Background(), "delete", "crd", "seldondeployments.machinelearning.seldon.io", "--wait=false"); err != nil {
			t.Errorf("delete the SeldonDeployment CRD: %v\n%s", err, out)
		}
	})
	sdep := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "machinelearning.seldon.io/v1",
		"kind":       "SeldonDeployment",
		"metadata":   map[string]any{"name": "iris", "namespace": ns, "annotations": map[string]any{optin.AnnotationInject: "true"}},
		"spec": map[string]any{"replicas": int64(1), "predictors": []any{map[string]any{
			"name": "default", "graph": map[string]any{"name": "classifier", "implementation": "SKLEARN_SERVER"},
		}}},
	}}
	if err := newClient(t).Create(t.Context(), sdep); err != nil {
		t.Fatalf("create SeldonDeployment: %v", err)
	}
	pods := operatorPods(t, ns, "iris-default-0-classifier", 1)
	wantAgent(t, pods, true)
	st, _ := agentStatus(t, pods[0])
	if st.FrontedContainer != "seldon-container-engine" || st.FrontedPort != 8000 || st.PortName != "http" {
		t.Errorf("status %+v, want the executor's http port 8000 fronted", st)
	}
	for _, c := range pods[0].Spec.Containers {
		if c.ReadinessProbe.HTTPGet.Port.Type != intstr.Int {
			t.Errorf("container %s still probes port %s by name", c.Name, c.ReadinessProbe.HTTPGet.Port.String())
		}
	}
}

// The pod that opted in but cannot be injected safely (no port to front) runs unchanged,
// and its Deployment gets an Event saying why.
func TestWebhookAdmitsUnsafePodUnchangedWithEvent(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	d := modelDeployment("portless", 1, nil, map[string]string{optin.AnnotationInject: "true"})
	d.Spec.Template.Spec.Containers[0].Ports = nil
	d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
	createDeployment(t, ns, d)
	wantAgent(t, readyPods(t, ns, "portless", 1), false)
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, err := testCluster.Kubectl(t.Context(), "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Deployment,involvedObject.name=portless", "-o", "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers")
		return err == nil && strings.Contains(string(out), "InferscaleNotInjected") && strings.Contains(string(out), "no container declares a TCP port"), nil
	})
	if err != nil {
		t.Errorf("no InferscaleNotInjected Event on the Deployment:\n%s", kubectl(t, "-n", ns, "get", "events"))
	}
}
