package budget

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestPodCost(t *testing.T) {
	req := func(kv ...string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}}
		for i := 0; i < len(kv); i += 2 {
			r.Requests[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return r
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "model", Resources: req("cpu", "2", "memory", "8Gi", "nvidia.com/gpu", "2")},
			{Name: "tool", Resources: req("cpu", "250m", "nvidia.com/mig-3g.40gb", "1", "nvidia.com/mig-1g.10gb+me", "2")},
		},
		InitContainers: []corev1.Container{
			// A native sidecar runs beside the containers: its requests add up.
			{Name: "inferscale-agent", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: req("cpu", "50m", "memory", "64Mi")},
			// A plain init container runs alone: only its largest request counts.
			{Name: "download", Resources: req("cpu", "1", "memory", "16Gi")},
		},
		Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}
	tests := []struct {
		res  corev1.ResourceName
		want int64
		text string
	}{
		{"cpu", 2400, "2400m cpu"},
		// max(8Gi + 64Mi, 16Gi + 64Mi: the init container starts after the sidecar).
		{"memory", 16<<30 + 64<<20, "16448Mi memory"},
		// 2 GPUs, 3/7 and 2 × 1/7 of a GPU.
		{"nvidia.com/gpu", 2*gpuUnits + 5*sliceUnits, "2715m GPUs"},
		{"nvidia.com/mig-3g.40gb", 1000, "1 nvidia.com/mig-3g.40gb"},
		{"nvidia.com/mig-2g.20gb", 0, "0 nvidia.com/mig-2g.20gb"},
	}
	for _, tt := range tests {
		got := PodCost(tt.res, pod)
		if got != tt.want || Format(tt.res, got) != tt.text {
			t.Errorf("%s: %d (%s), want %d (%s)", tt.res, got, Format(tt.res, got), tt.want, tt.text)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, tt := range []struct {
		res  corev1.ResourceName
		q    string
		want int64
	}{
		{"nvidia.com/gpu", "12", 12 * gpuUnits},
		{"nvidia.com/gpu", "500m", gpuUnits / 2},
		{"cpu", "3500m", 3500},
		{"memory", "1Gi", 1 << 30},
		{"nvidia.com/mig-1g.10gb", "7", 7000},
	} {
		if got := Units(tt.res, resource.MustParse(tt.q)); got != tt.want {
			t.Errorf("Units(%s, %s) = %d, want %d", tt.res, tt.q, got, tt.want)
		}
		if back := Quantity(tt.res, Units(tt.res, resource.MustParse(tt.q))); back.Cmp(resource.MustParse(tt.q)) != 0 {
			t.Errorf("Quantity(Units(%s)) = %s", tt.q, back)
		}
	}
	if Format("nvidia.com/gpu", gpuUnits) != "1 GPU" {
		t.Errorf("one GPU: %q", Format("nvidia.com/gpu", gpuUnits))
	}
}
