package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

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
