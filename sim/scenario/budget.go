package scenario

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/budget"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// TwoServicesGPUs is the GPU budget of TwoServices.
const TwoServicesGPUs = 12

// TwoServices is two services of the GPU preset (one GPU per replica) on one budget of
// TwoServicesGPUs GPUs that cannot hold both peaks: "chat" (priority 100, one replica of
// headroom) idles at 5 req/s and spikes to 40 for 4 minutes; "batch" (priority 0,
// preemptible) runs a steady 25 req/s. length scales the phases as in Headlines. With
// unbounded a true, the budget holds everything: each service as if alone.
func TwoServices(length float64, seed uint64, unbounded bool) ([]sim.Service, budget.Budget, error) {
	m := model.Presets[model.DefaultPreset]
	dur := func(d time.Duration) time.Duration {
		return max(time.Duration(float64(d)*length).Round(time.Second), 10*time.Second)
	}
	base, err := DefaultPolicy(&m)
	if err != nil {
		return nil, budget.Budget{}, err
	}
	service := func(name string, prio int32, preemptible bool, headroom int32, segs []workload.Segment, seed uint64) (sim.Service, error) {
		reqs, err := workload.Synthetic(segs, workload.Arrivals{Kind: "poisson"}, m.PromptTokens, m.OutputTokens, seed)
		if err != nil {
			return sim.Service{}, fmt.Errorf("%s: %w", name, err)
		}
		p := base.DeepCopy()
		p.Priority, p.Preemptible = ptr.To(prio), preemptible
		if headroom > 0 {
			p.Headroom = &v1alpha1.HeadroomSpec{Replicas: ptr.To(headroom)}
		}
		return sim.Service{Name: "sim/" + name, Cost: sim.GPUCost, Scenario: &sim.Scenario{
			Name: name, Requests: reqs, Model: m, Policy: p, Duration: workload.Span(reqs) + dur(3*time.Minute), Seed: seed,
		}}, nil
	}
	chat, err := service("chat", 100, false, 1, []workload.Segment{
		{For: dur(5 * time.Minute), RPS: 5}, {For: dur(4 * time.Minute), RPS: 40}, {For: dur(6 * time.Minute), RPS: 5}}, seed)
	if err != nil {
		return nil, budget.Budget{}, err
	}
	batch, err := service("batch", 0, true, 0, []workload.Segment{{For: dur(15 * time.Minute), RPS: 15}}, seed+1)
	if err != nil {
		return nil, budget.Budget{}, err
	}
	b := budget.Budget{Name: "gpu-team-a", Resource: v1alpha1.GPUResourceName,
		Max: budget.Units(v1alpha1.GPUResourceName, *resource.NewQuantity(TwoServicesGPUs, resource.DecimalSI))}
	if unbounded {
		b.Max = 1 << 50
	}
	return []sim.Service{chat, batch}, b, nil
}
