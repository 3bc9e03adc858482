package sim

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/budget"
	"github.com/inferscale/inferscale/scaler/decision"
)

// Service is one policy's service in a run of several under one budget.
type Service struct {
	// Name of the policy, e.g. "ai/chat".
	Name string
	// Scenario is the service's own: its requests, model and policy (priority, preemptible and
	// headroom included). Its Duration is ignored: every service runs as long as the longest.
	Scenario *Scenario
	// Cost is what one replica requests of the budget's resource, in budget.Units.
	Cost int64
}

// BudgetResult is one service's run under the budget.
type BudgetResult struct {
	Service string
	Result  *Result
	// TrimmedSeconds are the decisions at which the budget granted less than the service
	// asked (headroom included); Preemptions those at which it scaled the service below
	// what it ran for higher priorities.
	TrimmedSeconds, Preemptions int
	// PeakGranted is the most replicas the budget granted.
	PeakGranted int32
}

// RunBudget simulates the services side by side, each under its own inferscale, sharing b:
// every second each service's decision becomes a claim (budget.Request, headroom included),
// budget.Allocate shares b among the claims, and each target is scaled to its grant, as the
// scaler's budgets do. The services run in lockstep on the same virtual clock, so the result
// is as deterministic as a run of one.
func RunBudget(services []Service, b budget.Budget) ([]BudgetResult, error) {
	if len(services) == 0 {
		return nil, errors.New("no service to run")
	}
	var dur time.Duration
	for _, s := range services {
		if s.Scenario == nil || s.Scenario.Policy == nil {
			return nil, fmt.Errorf("service %s has no policy", s.Name)
		}
		dur = max(dur, s.Scenario.Duration)
	}
	co := &lockstep{b: b, claims: make([]budget.Claim, len(services)), live: len(services)}
	co.cond = sync.NewCond(&co.mu)
	out := make([]BudgetResult, len(services))
	errs := make([]error, len(services))
	var wg sync.WaitGroup
	for i, s := range services {
		out[i].Service = s.Name
		spec := s.Scenario.Policy.Defaulted()
		var spare int32
		as := NewInferscale(spec)
		as.Grant = func(_ time.Time, st *State, d *decision.Decision) int32 {
			demand, headroom, _ := budget.Request(spec, budget.Decided{Current: st.Replicas, Desired: d.DesiredReplicas, Burst: d.Burst, Hold: d.Hold, Spare: spare})
			g := co.submit(i, budget.Claim{Name: s.Name, Priority: *spec.Priority, Preemptible: spec.Preemptible, Min: *spec.MinReplicas,
				Max: spec.MaxReplicas, Current: st.Replicas, Demand: demand, Headroom: headroom, Cost: s.Cost})
			spare = min(headroom, max(g.Replicas-demand, 0))
			r := &out[i]
			r.PeakGranted = max(r.PeakGranted, g.Replicas)
			switch {
			case g.Rule == budget.RulePreempted:
				r.Preemptions++
				r.TrimmedSeconds++
			case g.Replicas < demand+headroom:
				r.TrimmedSeconds++
			}
			return g.Replicas
		}
		sc := *s.Scenario
		sc.Duration = dur
		wg.Go(func() {
			defer co.done()
			res, err := runOne(&sc, as)
			out[i].Result, errs[i] = res, err
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// runOne runs inferscale alone on a scenario, as Compare starts it.
func runOne(sc *Scenario, as Autoscaler) (*Result, error) {
	cfg, _, err := runConfig(sc)
	if err != nil {
		return nil, err
	}
	return Run(cfg, as)
}

// lockstep collects one claim from every running service per second, then allocates.
type lockstep struct {
	mu     sync.Mutex
	cond   *sync.Cond
	b      budget.Budget
	claims []budget.Claim
	have   []bool
	n      int
	live   int
	round  int
	grants []budget.Grant
}

func (l *lockstep) submit(i int, c budget.Claim) budget.Grant {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.have == nil {
		l.have = make([]bool, len(l.claims))
	}
	round := l.round
	l.claims[i], l.have[i] = c, true
	l.n++
	l.maybeAllocate()
	for l.round == round {
		l.cond.Wait()
	}
	return l.grants[i]
}

// done takes a finished service out of the rounds.
func (l *lockstep) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live--
	l.maybeAllocate()
}

// maybeAllocate allocates once every running service has claimed. Callers hold l.mu.
func (l *lockstep) maybeAllocate() {
	if l.n == 0 || l.n < l.live {
		return
	}
	var claims []budget.Claim
	var idx []int
	for i, ok := range l.have {
		if ok {
			claims, idx = append(claims, l.claims[i]), append(idx, i)
		}
	}
	res := budget.Allocate(l.b, claims)
	l.grants = make([]budget.Grant, len(l.claims))
	for k, i := range idx {
		l.grants[i] = res.Grants[k]
		l.have[i] = false
	}
	l.n = 0
	l.round++
	l.cond.Broadcast()
}

// GPUCost is what one replica of the simulated model server costs in an nvidia.com/gpu
// budget: the GPU presets run one replica per GPU.
var GPUCost = budget.Units(v1alpha1.GPUResourceName, resource.MustParse("1"))
