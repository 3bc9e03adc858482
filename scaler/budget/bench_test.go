package budget

import (
	"fmt"
	"testing"
)

// BenchmarkAllocate is one allocation of a short budget over n claims of 4 priorities: the
// scaler runs one per covered policy per tick.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		claims := make([]Claim, n)
		for i := range claims {
			claims[i] = Claim{Name: fmt.Sprint(i), Priority: int32(i % 4), Min: 1, Max: 20, Current: 2, Demand: int32(2 + i%7), Headroom: 1, Cost: gpuUnits, Preemptible: i%2 == 0}
		}
		bu := Budget{Name: "b", Resource: "nvidia.com/gpu", Max: int64(3*n) * gpuUnits}
		b.Run(fmt.Sprintf("claims=%d", n), func(b *testing.B) {
			for b.Loop() {
				Allocate(bu, claims)
			}
		})
	}
}
