package controller

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/budget"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/workload"
)

// TestTargetPodsAreTheVerifiedOnes: a target's pods are those its verified owner chain
// reaches; a pod that carries its labels, or names it in a forged owner reference, is not
// counted, whether the /scale selector, Seldon's label or nothing narrows the list.
func TestTargetPodsAreTheVerifiedOnes(t *testing.T) {
	now := time.Now()
	forged := readyPod("forged", now)
	forged.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama", UID: "uid-llama", Controller: ptr.To(true)}}
	labelled := readyPod("labelled", now)
	labelled.OwnerReferences = nil

	sdep := &unstructured.Unstructured{}
	sdep.SetGroupVersionKind(workload.SeldonDeploymentGVK)
	sdep.SetNamespace(ns)
	sdep.SetName("iris")
	sdep.SetUID("uid-iris")
	seldonLabels := map[string]string{"app": "iris", workload.SeldonDeploymentIDLabel: "iris", workload.PodTemplateHashLabel: "s1"}
	irisDep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "iris-default", UID: "uid-iris-default", Labels: seldonLabels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "machinelearning.seldon.io/v1", Kind: "SeldonDeployment", Name: "iris", UID: "uid-iris", Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "iris"}}}}
	irisRS := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "iris-default-s1", UID: "uid-iris-default-s1", Labels: seldonLabels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "iris-default", UID: "uid-iris-default", Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: seldonLabels}}}
	irisPod := readyPod("iris-default-s1-a", now)
	irisPod.Labels = seldonLabels
	irisPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "iris-default-s1", UID: "uid-iris-default-s1", Controller: ptr.To(true)}}
	seldonLabelled := readyPod("iris-labelled", now)
	seldonLabelled.Labels, seldonLabelled.OwnerReferences = seldonLabels, nil

	modelPod := readyPod("m-0", now)
	modelPod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Model", Name: "m", UID: "m-uid", Controller: ptr.To(true)}}
	modelPolicy := queuePolicy("m", now)
	modelPolicy.Spec.TargetRef = v1alpha1.CrossVersionObjectReference{APIVersion: "example.com/v1", Kind: "Model", Name: "m"}
	f := newFixture(t, readyPod("a", now), forged, labelled, sdep, irisDep, irisRS, irisPod, seldonLabelled, modelPod, modelPolicy)

	for _, tc := range []struct {
		name     string
		k        target.Key
		selector string
		want     []string
	}{
		{"deployment by its /scale selector", deployKey, "app=llama", []string{"a"}},
		{"deployment without a selector", deployKey, "", []string{"a"}},
		{"seldondeployment by its label", target.Key{Namespace: ns, Group: workload.SeldonGroup, Kind: "SeldonDeployment", Name: "iris"}, "", []string{"iris-default-s1-a"}},
		// Nothing verifies a pod's own reference to a custom kind.
		{"custom kind owning pods directly", target.Key{Namespace: ns, Group: "example.com", Kind: "Model", Name: "m"}, "", []string{}},
	} {
		pods, _, err := f.c.targetPods(context.Background(), tc.k, tc.selector)
		if got := names(pods); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: pods %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, _, err := f.c.targetPods(context.Background(), deployKey, "app in ("); err == nil {
		t.Error("an unparsable /scale selector was accepted")
	}
}

func TestGPURequestCountsDevicePluginGPUsAndMIGSlices(t *testing.T) {
	limits := func(kv ...string) corev1.Container {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return corev1.Container{Resources: corev1.ResourceRequirements{Limits: l}}
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			limits("nvidia.com/gpu", "2", "cpu", "4"),
			limits("nvidia.com/mig-1g.10gb", "1", "example.com/fpga", "3"),
			limits("memory", "1Gi"),
		},
		InitContainers: []corev1.Container{limits("nvidia.com/gpu", "8")}, // not the pod's servers
	}}
	if got := gpuRequest(p); got != 3 {
		t.Errorf("gpuRequest = %d, want 3", got)
	}
	if d := decisionPod(p); d.GPUs != 3 {
		t.Errorf("decision pod GPUs = %d", d.GPUs)
	}
}

// TestTrimPodKeepsWhatTheScalerReads: the cache's pods lose their images, commands,
// environment, volumes, probes, annotations and statuses, and the decision, the budget's cost
// and attribution read the same of them.
func TestTrimPodKeepsWhatTheScalerReads(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	full := readyPod("a", now)
	full.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4096)}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	always := corev1.ContainerRestartPolicyAlways
	full.Spec.Containers[0].Image = "vllm/vllm-openai:v0.9"
	full.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "HF_TOKEN", Value: "secret"}}
	full.Spec.Containers[0].Command = []string{"vllm", "serve"}
	full.Spec.Containers[0].ReadinessProbe = &corev1.Probe{InitialDelaySeconds: 5}
	full.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")}
	full.Spec.InitContainers = []corev1.Container{
		{Name: "agent", Image: "inferscale-agent", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}},
		{Name: "fetch", Image: "fetch", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}},
	}
	full.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
	full.Spec.Volumes = []corev1.Volume{{Name: "models"}}
	full.Spec.NodeName = "gpu-node-1"
	full.Status.PodIP = "10.0.0.7"
	full.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "model", Image: "vllm/vllm-openai:v0.9", Ready: true}}

	out, err := TrimPod(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	trimmed := out.(*corev1.Pod)
	c := trimmed.Spec.Containers[0]
	if c.Image != "" || c.Env != nil || c.Command != nil || c.ReadinessProbe != nil || trimmed.Spec.InitContainers[0].Image != "" ||
		trimmed.Spec.Volumes != nil || trimmed.Spec.NodeName != "" || trimmed.Annotations != nil || trimmed.ManagedFields != nil ||
		trimmed.Status.PodIP != "" || trimmed.Status.ContainerStatuses != nil {
		t.Errorf("trimmed pod kept more than the scaler reads: %+v", trimmed)
	}
	if !reflect.DeepEqual(decisionPod(trimmed), decisionPod(full)) {
		t.Errorf("decision pod %+v, want %+v", decisionPod(trimmed), decisionPod(full))
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, v1alpha1.GPUResourceName} {
		if got, want := budget.PodCost(res, trimmed), budget.PodCost(res, full); got != want || (res == corev1.ResourceCPU && want == 0) {
			t.Errorf("cost in %s %d, want %d", res, got, want)
		}
	}
	if out, err := TrimPod("not a pod"); err != nil || out != "not a pod" {
		t.Errorf("another object: %v, %v; want it unchanged", out, err)
	}

	// Attribution and the target's pods from the trimmed pod alone.
	f := newFixture(t, trimmed, queuePolicy("llama", now))
	if k, err := f.c.resolver.Resolve(context.Background(), ns, "a", "uid-a"); err != nil || k != deployKey {
		t.Errorf("attribution of the trimmed pod %v, %v; want %v", k, err, deployKey)
	}
	if pods, _, err := f.c.targetPods(context.Background(), deployKey, "app=llama"); err != nil || !slices.Equal(names(pods), []string{"a"}) {
		t.Errorf("target pods %v, %v; want the trimmed pod", names(pods), err)
	}
}

// BenchmarkCachedPodBytes measures the heap one cached pod holds, whole but for its managed
// fields (what cache.TransformStripManagedFields alone keeps) and as TrimPod keeps it: a vLLM
// pod as the webhook admits it (the agent sidecar with its environment, the projected token
// volume, probes, kubectl's last-applied annotation and container statuses).
func BenchmarkCachedPodBytes(b *testing.B) {
	p := readyPod("llama-7f9c4d-x2k8q", time.Unix(1_800_000_000, 0))
	p.Annotations = map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 2048),
		"inferscale.io/agent-status":                       `{"frontedContainer":"model","frontedPort":8000,"portName":"http"}`,
	}
	p.ManagedFields = make([]metav1.ManagedFieldsEntry, 3)
	for i := range p.ManagedFields {
		p.ManagedFields[i] = metav1.ManagedFieldsEntry{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsV1: metav1.NewFieldsV1(strings.Repeat(`{"f:metadata":{"f:labels":{}}}`, 20))}
	}
	probe := &corev1.Probe{PeriodSeconds: 1}
	env := make([]corev1.EnvVar, 12)
	for i := range env {
		env[i] = corev1.EnvVar{Name: fmt.Sprintf("VLLM_SETTING_%d", i), Value: strings.Repeat("v", 32)}
	}
	always := corev1.ContainerRestartPolicyAlways
	m := &p.Spec.Containers[0]
	m.Image, m.Command, m.Args, m.Env, m.ReadinessProbe, m.LivenessProbe = "vllm/vllm-openai:v0.9.1", []string{"vllm", "serve"},
		[]string{"meta-llama/Llama-3.1-8B-Instruct", "--max-model-len=8192", "--gpu-memory-utilization=0.9"}, env, probe, probe
	m.VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: "/models"}, {Name: "kube-api-access-x", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
	p.Spec.InitContainers = []corev1.Container{{Name: "inferscale-agent", Image: "inferscale-agent:v0.1", RestartPolicy: &always,
		Args: []string{"--listen=:9080", "--upstream=127.0.0.1:8000"}, Env: env[:6], ReadinessProbe: probe,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}}}
	p.Spec.Volumes = []corev1.Volume{{Name: "models"}, {Name: "inferscale-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "inferscale-scaler", Path: "token"}}}}}}}
	p.Spec.NodeName, p.Spec.ServiceAccountName, p.Status.PodIP, p.Status.HostIP = "gpu-node-1", "llama", "10.0.0.7", "192.168.0.10"
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "model", Image: "vllm/vllm-openai:v0.9.1", ImageID: strings.Repeat("i", 80), ContainerID: strings.Repeat("c", 80), Ready: true}}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "inferscale-agent", Image: "inferscale-agent:v0.1", ImageID: strings.Repeat("i", 80), ContainerID: strings.Repeat("c", 80), Ready: true}}

	const n = 2000
	cached := make([]any, n)
	retained := func(cache func() any) float64 {
		clear(cached)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range cached {
			cached[i] = cache()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	whole := func() any {
		c := p.DeepCopy()
		c.ManagedFields = nil
		return c
	}
	trimmed := func() any { out, _ := TrimPod(p.DeepCopy()); return out }
	var full, trim float64
	for b.Loop() {
		full, trim = retained(whole), retained(trimmed)
	}
	b.ReportMetric(full, "bytes/pod-unmanaged")
	b.ReportMetric(trim, "bytes/pod-trimmed")
	b.ReportMetric(trim/full, "trimmed/unmanaged")
}
