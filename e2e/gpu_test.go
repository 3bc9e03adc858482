//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

// A pod whose GPU comes from a ResourceClaim gets the same claim on its agent, as the API
// server stores the pod: the DRA driver would give the agent exactly the pod's devices. The
// cluster has no DRA driver, so the pod stays Pending; what is checked is the admitted spec.
func TestGPUFromResourceClaimIsSharedWithTheAgent(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	manifest := fmt.Sprintf(`apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: %[1]s}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu.nvidia.com}
---
apiVersion: v1
kind: Pod
metadata:
  name: llm
  namespace: %[1]s
  annotations: {%[2]s: "true"}
spec:
  resourceClaims:
  - {name: gpu, resourceClaimTemplateName: one-gpu}
  containers:
  - name: model
    image: %[3]s
    imagePullPolicy: Never
    ports: [{name: http, containerPort: 8000}]
    resources:
      claims: [{name: gpu, request: gpu}]
`, ns, optin.AnnotationInject, modelServer.Ref)
	if out, err := applyManifest(t, manifest); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	pod, err := testCluster.Client.CoreV1().Pods(ns).Get(t.Context(), "llm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := agentStatus(t, *pod)
	if !ok || st.GPUAttribution != reportv1.GPUAttributionDRA || !slices.Equal(st.GPUClaims, []string{"gpu"}) {
		t.Fatalf("status %+v, want the agent with the DRA claim gpu", st)
	}
	var agent corev1.Container
	for _, c := range pod.Spec.InitContainers {
		if c.Name == inject.ContainerName {
			agent = c
		}
	}
	if want := []corev1.ResourceClaim{{Name: "gpu", Request: "gpu"}}; !slices.Equal(agent.Resources.Claims, want) {
		t.Errorf("agent claims %v, want %v", agent.Resources.Claims, want)
	}
	if !slices.Contains(agent.Args, "--gpu-attribution=dra") {
		t.Errorf("agent args %v lack --gpu-attribution=dra", agent.Args)
	}
	for _, e := range agent.Env {
		if strings.HasPrefix(e.Name, "NVIDIA_") {
			t.Errorf("agent of a DRA pod has %s=%s: the runtime could give it every GPU of the node", e.Name, e.Value)
		}
	}
}

// A GPU pod of the device plugin, on a node with more GPUs than it requests and with neither
// DRA nor the PodResources socket, gets the GPUUnattributed condition on its policy.
//
// How close to real: the node advertises 4 nvidia.com/gpu through its status (the documented
// way to advertise an extended resource; the kubelet keeps it and admits the pod, with no
// device plugin to allocate), the webhook injects the agent as on a GPU node (and warns), the
// pod runs, and the scaler's authentication, windows, decision and status are the real ones.
// What differs: the node has no GPU and the agent image no NVML, so its own reports carry no
// GPUs; this test sends, with the pod's own token, the reports the agent sends on such a node
// (every GPU it sees, Unattributed), which agent/gpu's tests build from go-nvml's mock.
func TestGPUUnattributedOnASharedNode(t *testing.T) {
	requireInferscale(t)
	ctx := t.Context()
	nodes, err := testCluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %d (%v), want the one node", len(nodes.Items), err)
	}
	node := nodes.Items[0].Name
	patchGPUs := func(ctx context.Context, op string) error {
		patch := fmt.Sprintf(`[{"op":%q,"path":"/status/capacity/nvidia.com~1gpu","value":"4"},{"op":%q,"path":"/status/allocatable/nvidia.com~1gpu","value":"4"}]`, op, op)
		if op == "remove" {
			patch = `[{"op":"remove","path":"/status/capacity/nvidia.com~1gpu"},{"op":"remove","path":"/status/allocatable/nvidia.com~1gpu"}]`
		}
		_, err := testCluster.Client.CoreV1().Nodes().Patch(ctx, node, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}, "status")
		return err
	}
	if err := patchGPUs(ctx, "add"); err != nil {
		t.Fatalf("advertise GPUs on %s: %v", node, err)
	}
	t.Cleanup(func() {
		if err := patchGPUs(context.Background(), "remove"); err != nil {
			t.Errorf("remove the advertised GPUs from %s: %v", node, err)
		}
	})

	ns := newNamespace(t)
	const name = "llm"
	d := modelDeployment(name, 1, nil, map[string]string{optin.AnnotationInject: "true"})
	d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	createDeployment(t, ns, d)
	pod := readyPods(t, ns, name, 1)[0]
	if st, _ := agentStatus(t, pod); st.GPUAttribution != reportv1.GPUAttributionUnattributed {
		t.Fatalf("status %+v, want an unattributed GPU pod", st)
	}
	applyPolicy(t, fmt.Sprintf(`apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  maxReplicas: 4
  stableWindowSeconds: 10
  metrics:
  - type: GPU
    gpu: {metric: utilization, averageUtilization: 50}
`, name, ns))

	sc := newScalerClient(t)
	tok := sc.token(pod, inject.TokenAudience)
	gpus := make([]reportv1.GPU, 4)
	for i := range gpus {
		util := float64(10 + 30*i) // neighbours' load: the pod's own GPU is one of them
		gpus[i] = reportv1.GPU{Index: i, UUID: fmt.Sprintf("GPU-%d", i), UtilizationPercent: &util, MemoryUsedBytes: 1 << 30, MemoryTotalBytes: 80 << 30}
	}
	c := newClient(t)
	var active *metav1.Condition
	var current string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		now := time.Now()
		code, msg := sc.post(&reportv1.Report{
			APIVersion: reportv1.APIVersion,
			Pod:        reportv1.PodRef{Namespace: ns, Name: pod.Name, UID: string(pod.UID), Node: node},
			Interval:   reportv1.Interval{Start: now.Add(-time.Second), End: now},
			GPUs:       gpus, GPUAttribution: reportv1.GPUAttributionUnattributed,
		}, tok)
		if code != http.StatusAccepted && code != http.StatusServiceUnavailable {
			return false, fmt.Errorf("report refused: %d %s", code, msg)
		}
		var p v1alpha1.AutoscalingPolicy
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
			return false, nil
		}
		active = meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ScalingActive)
		if len(p.Status.CurrentMetrics) > 0 {
			current = p.Status.CurrentMetrics[0].Current
		}
		return active != nil && active.Reason == v1alpha1.ReasonGPUUnattributed, nil
	})
	if err != nil {
		t.Fatalf("ScalingActive never GPUUnattributed: %v; last %+v", err, active)
	}
	for _, want := range []string{pod.Name, "reads 4 GPUs", "ResourceClaim", "inferscale.io/gpu-pod-resources"} {
		if !strings.Contains(active.Message, want) {
			t.Errorf("condition message %q lacks %q", active.Message, want)
		}
	}
	if active.Status != metav1.ConditionFalse || current != "" {
		t.Errorf("ScalingActive %s, current GPU metric %q; want False and no node-wide value shown", active.Status, current)
	}
	if r := replicas(t, ns, name); r != 1 {
		t.Errorf("scaled to %d on unattributed GPUs", r)
	}
}
