package budget

import (
	"math"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// gpuUnits is what one whole GPU counts in a nvidia.com/gpu budget: a MIG compute slice is
// one seventh of a GPU, so 1/7000 of a GPU keeps both exact.
const (
	gpuUnits   = 7000
	sliceUnits = gpuUnits / 7
)

// Units converts q, an amount of res, into the budget's integer units: milli-units for cpu
// and MIG profiles, bytes for memory, 1/7000 of a GPU for nvidia.com/gpu. Amounts beyond
// v1alpha1.MaxBudgetAmount saturate.
func Units(res corev1.ResourceName, q resource.Quantity) int64 {
	switch res {
	case corev1.ResourceMemory:
		return q.Value()
	case v1alpha1.GPUResourceName:
		return mulSat(q.MilliValue(), gpuUnits/1000)
	}
	return q.MilliValue()
}

// Quantity converts units of res back into a quantity, for status.
func Quantity(res corev1.ResourceName, units int64) *resource.Quantity {
	switch res {
	case corev1.ResourceMemory:
		return resource.NewQuantity(units, resource.BinarySI)
	case v1alpha1.GPUResourceName:
		// Whole milli-GPUs, rounded up: status never under-states what is used.
		return resource.NewMilliQuantity((units*1000+gpuUnits-1)/gpuUnits, resource.DecimalSI)
	}
	return resource.NewMilliQuantity(units, resource.DecimalSI)
}

// Format says units of res in words, e.g. "12 GPUs", "3500m cpu", "12Gi memory".
func Format(res corev1.ResourceName, units int64) string {
	q := Quantity(res, units)
	switch res {
	case v1alpha1.GPUResourceName:
		if q.MilliValue() == 1000 {
			return "1 GPU"
		}
		return q.String() + " GPUs"
	case corev1.ResourceCPU, corev1.ResourceMemory:
		return q.String() + " " + string(res)
	}
	return q.String() + " " + string(res)
}

// PodCost is what pod requests of res, in units, as the scheduler counts its requests
// (containers, restartable init containers, init containers, pod-level resources and
// overhead). For nvidia.com/gpu, MIG slices of the "mixed" strategy count their fraction.
func PodCost(res corev1.ResourceName, pod *corev1.Pod) int64 {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	if res != v1alpha1.GPUResourceName {
		if q, ok := reqs[res]; ok {
			return Units(res, q)
		}
		return 0
	}
	var units int64
	for name, q := range reqs {
		switch slices, mig := v1alpha1.MIGComputeSlices(name); {
		case name == v1alpha1.GPUResourceName:
			units = addSat(units, Units(res, q))
		case mig:
			units = addSat(units, mulSat(q.Value(), int64(slices)*sliceUnits))
		}
	}
	return units
}

// mulSat and addSat saturate instead of overflowing: amounts come from pods and users.
func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a < 0 || b < 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// replicasWord says "1 replica" or "n replicas".
func replicasWord(n int32) string {
	if n == 1 {
		return "1 replica"
	}
	return strconv.Itoa(int(n)) + " replicas"
}
