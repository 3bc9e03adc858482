package budget

import (
	"slices"
	"strings"
	"testing"
)

const gpu = gpuUnits

func TestAllocate(t *testing.T) {
	// claim: priority, min, max, current, demand, headroom, cost in GPUs, preemptible.
	claim := func(name string, prio, lo, hi, cur, demand, head int32, gpus int64, preemptible bool) Claim {
		return Claim{Name: name, Priority: prio, Min: lo, Max: hi, Current: cur, Demand: demand, Headroom: head, Cost: gpus * gpu, Preemptible: preemptible}
	}
	tests := []struct {
		name      string
		budget    Budget
		claims    []Claim
		want      []int32
		wantRules []Rule
		wantFit   bool
		reasons   []string // substrings of each grant's reason, "" for none
	}{
		{
			name:   "everything fits: everyone gets what they ask",
			budget: Budget{Max: 12 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 5, 1, 1, false), claim("b", 0, 1, 10, 2, 4, 0, 1, false)},
			want:   []int32{6, 4}, wantRules: []Rule{RuleNone, RuleNone}, wantFit: true,
			reasons: []string{"", ""},
		},
		{
			name:   "priority order: the higher priority is served first",
			budget: Budget{Max: 12 * gpu},
			claims: []Claim{claim("b", 0, 1, 10, 1, 8, 0, 1, true), claim("a", 100, 1, 10, 1, 8, 0, 1, true)},
			want:   []int32{4, 8}, wantRules: []Rule{RuleBudget, RuleNone}, wantFit: true,
			reasons: []string{"budget gpu-team-a: 12 of 12 GPUs in use; granted 4 of 8 replicas to b (priority 0)", ""},
		},
		{
			name:   "proportional within a priority, by shortfall in units",
			budget: Budget{Max: 12 * gpu},
			// a is 9 GPUs short, b 3; the 10 GPUs left after the minimums are shared 7.5 : 2.5,
			// and the last one goes to the first of equal remainders.
			claims: []Claim{claim("a", 5, 1, 20, 1, 10, 0, 1, false), claim("b", 5, 1, 20, 1, 4, 0, 1, false)},
			want:   []int32{9, 3}, wantRules: []Rule{RuleBudget, RuleBudget}, wantFit: true,
			reasons: []string{"granted 9 of 10 replicas to a (priority 5)", "granted 3 of 4 replicas to b (priority 5)"},
		},
		{
			name:   "proportional with different costs: shares are in units, not replicas",
			budget: Budget{Max: 10 * gpu},
			// After minimums (2 + 2 = 4) 6 GPUs are free; a short 8 GPUs (4 × 2), b 4 GPUs (4 × 1):
			// a's share 4 GPUs = 2 replicas, b's 2 GPUs = 2 replicas.
			claims: []Claim{claim("a", 0, 1, 10, 1, 5, 0, 2, false), claim("b", 0, 2, 10, 2, 6, 0, 1, false)},
			want:   []int32{3, 4}, wantRules: []Rule{RuleBudget, RuleBudget}, wantFit: true,
		},
		{
			name:   "never below minReplicas, and the budget says when the minimums do not fit",
			budget: Budget{Max: 4 * gpu},
			claims: []Claim{claim("a", 100, 3, 10, 3, 6, 0, 1, false), claim("b", 0, 2, 10, 4, 4, 0, 1, true)},
			want:   []int32{3, 2}, wantRules: []Rule{RuleMinimums, RuleMinimums}, wantFit: false,
			reasons: []string{"minReplicas alone request more than its 4 GPUs; granted a (priority 100) its minReplicas 3", "its minReplicas 2"},
		},
		{
			name:   "preemption on: a preemptible lower priority is scaled down to make room",
			budget: Budget{Max: 8 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 6, 0, 1, false), claim("b", 0, 1, 10, 6, 6, 0, 1, true)},
			want:   []int32{6, 2}, wantRules: []Rule{RuleNone, RulePreempted}, wantFit: true,
			reasons: []string{"", "granted 2 of 6 replicas to b (priority 0), down from 6: preempted for higher priorities"},
		},
		{
			name:   "preemption on: never below its minReplicas",
			budget: Budget{Max: 8 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 9, 0, 1, false), claim("b", 0, 3, 10, 6, 6, 0, 1, true)},
			want:   []int32{5, 3}, wantRules: []Rule{RuleBudget, RulePreempted}, wantFit: true,
		},
		{
			name:   "preemption off: the lower priority keeps what it runs; the higher one waits",
			budget: Budget{Max: 8 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 6, 0, 1, false), claim("b", 0, 1, 10, 6, 6, 0, 1, false)},
			want:   []int32{2, 6}, wantRules: []Rule{RuleBudget, RuleNone}, wantFit: true,
			reasons: []string{"budget gpu-team-a: 8 of 8 GPUs in use; granted 2 of 6 replicas to a (priority 100)", ""},
		},
		{
			name:   "preemption off protects only what runs: its growth still waits for higher priorities",
			budget: Budget{Max: 8 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 5, 0, 1, false), claim("b", 0, 1, 10, 2, 6, 0, 1, false)},
			want:   []int32{5, 3}, wantRules: []Rule{RuleNone, RuleBudget}, wantFit: true,
		},
		{
			name:   "preemption off: a scale-down of its own is not protected",
			budget: Budget{Max: 8 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 2, 7, 0, 1, false), claim("b", 0, 1, 10, 6, 3, 0, 1, false)},
			want:   []int32{5, 3}, wantRules: []Rule{RuleBudget, RuleNone}, wantFit: true,
		},
		{
			name:   "headroom is given up first, everyone's before anyone's demand",
			budget: Budget{Max: 10 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 4, 4, 2, 1, false), claim("b", 0, 1, 10, 4, 5, 2, 1, false)},
			want:   []int32{5, 5}, wantRules: []Rule{RuleHeadroom, RuleHeadroom}, wantFit: true,
			reasons: []string{"granted 5 of 6 replicas to a (priority 100): 1 replica of headroom given up", "granted 5 of 7 replicas to b (priority 0): 2 replicas of headroom given up"},
		},
		{
			name:   "a lower priority's running headroom makes room for a higher priority's demand",
			budget: Budget{Max: 10 * gpu},
			claims: []Claim{claim("a", 100, 1, 10, 4, 6, 0, 1, false), claim("b", 0, 1, 10, 6, 4, 2, 1, false)},
			want:   []int32{6, 4}, wantRules: []Rule{RuleNone, RuleHeadroom}, wantFit: true,
		},
		{
			name:   "budget min: extra replicas, highest priority first, within maxReplicas",
			budget: Budget{Max: 12 * gpu, Min: 6 * gpu},
			claims: []Claim{claim("a", 100, 1, 3, 1, 1, 0, 1, false), claim("b", 0, 1, 10, 1, 1, 0, 1, false)},
			want:   []int32{3, 3}, wantRules: []Rule{RuleReserve, RuleReserve}, wantFit: true,
			reasons: []string{"budget gpu-team-a keeps at least 6 GPUs: granted 3 replicas to a (priority 100), 2 above its request of 1", "granted 3 replicas to b (priority 0), 2 above"},
		},
		{
			name:   "budget min that cannot be reached exactly goes over it by less than a replica, never over max",
			budget: Budget{Max: 5 * gpu, Min: 3 * gpu},
			claims: []Claim{claim("a", 0, 1, 10, 1, 1, 0, 2, false)},
			want:   []int32{2}, wantRules: []Rule{RuleReserve}, wantFit: true,
		},
		{
			name:   "a target that requests none of the resource gets what it asks",
			budget: Budget{Max: 2 * gpu},
			claims: []Claim{claim("cpu-only", 0, 1, 10, 1, 9, 1, 0, false), claim("a", 0, 1, 10, 1, 5, 0, 1, false)},
			want:   []int32{10, 2}, wantRules: []Rule{RuleNone, RuleBudget}, wantFit: true,
		},
		{
			name:   "out-of-range claims are clamped, not trusted",
			budget: Budget{Max: 6 * gpu},
			claims: []Claim{{Name: "x", Min: -1, Max: 3, Current: -5, Demand: 50, Headroom: -2, Cost: -gpu}, claim("a", 0, 1, 10, 1, 5, 0, 1, false)},
			want:   []int32{3, 5}, wantRules: []Rule{RuleNone, RuleNone}, wantFit: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.budget
			b.Name, b.Resource = "gpu-team-a", "nvidia.com/gpu"
			res := Allocate(b, tt.claims)
			var got []int32
			var rules []Rule
			for _, g := range res.Grants {
				got, rules = append(got, g.Replicas), append(rules, g.Rule)
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(rules, tt.wantRules) || res.MinimumsFit != tt.wantFit {
				t.Fatalf("grants %v rules %q fit %v, want %v %q %v", got, rules, res.MinimumsFit, tt.want, tt.wantRules, tt.wantFit)
			}
			if res.MinimumsFit && res.Granted > b.Max {
				t.Errorf("granted %d units of a budget of %d", res.Granted, b.Max)
			}
			for i, sub := range tt.reasons {
				r := res.Grants[i].Reason
				if (sub == "") != (r == "") || !strings.Contains(r, sub) {
					t.Errorf("grant %d reason %q, want it to contain %q", i, r, sub)
				}
			}
		})
	}
}

func TestAllocateTotals(t *testing.T) {
	res := Allocate(Budget{Name: "b", Resource: "nvidia.com/gpu", Max: 8 * gpu}, []Claim{
		{Name: "a", Min: 1, Max: 10, Current: 3, Demand: 6, Headroom: 1, Cost: gpu, Priority: 1},
		{Name: "b", Min: 1, Max: 10, Current: 2, Demand: 4, Cost: gpu, Preemptible: true},
	})
	if res.Used != 5*gpu || res.Requested != 11*gpu || res.Granted != 8*gpu || !res.Limited() {
		t.Fatalf("used %d requested %d granted %d limited %v", res.Used/gpu, res.Requested/gpu, res.Granted/gpu, res.Limited())
	}
	// b's demand comes before a's headroom, whatever their priorities.
	if g := res.Grants; g[0].Replicas != 6 || g[0].Rule != RuleHeadroom || g[1].Replicas != 2 || g[1].Rule != RuleBudget {
		t.Fatalf("grants %+v", g)
	}
}

// Many claims: the grants never exceed the budget, never go below a minimum, and a claim of
// higher priority is never short while a lower one gets more than its protected replicas.
func TestAllocateInvariants(t *testing.T) {
	seed := uint64(1)
	rnd := func(n int32) int32 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int32((seed >> 33) % uint64(n))
	}
	for round := 0; round < 500; round++ {
		var claims []Claim
		for i := 0; i < 1+int(rnd(6)); i++ {
			lo := 1 + rnd(3)
			hi := lo + rnd(10)
			claims = append(claims, Claim{Name: "p", Priority: rnd(3), Min: lo, Max: hi, Current: lo + rnd(hi-lo+1),
				Demand: lo + rnd(hi-lo+1), Headroom: rnd(3), Cost: int64(1+rnd(4)) * 1000, Preemptible: rnd(2) == 0})
		}
		b := Budget{Name: "b", Resource: "cpu", Max: int64(5+rnd(40)) * 1000}
		res := Allocate(b, claims)
		if !res.MinimumsFit {
			continue
		}
		if res.Granted > b.Max {
			t.Fatalf("round %d: granted %d > max %d: %+v", round, res.Granted, b.Max, claims)
		}
		for i, g := range res.Grants {
			c := sanitize(claims[i])
			if g.Replicas < c.Min || g.Replicas > c.Demand+c.Headroom {
				t.Fatalf("round %d: claim %+v granted %d", round, c, g.Replicas)
			}
			// A claim short of its demand: what is free, plus what lower priorities hold
			// beyond their protected replicas, is less than one of its replicas.
			if g.Replicas < c.Demand {
				spare := b.Max - res.Granted
				for j, o := range res.Grants {
					oc := sanitize(claims[j])
					protected := oc.Min
					if !oc.Preemptible {
						protected = max(oc.Min, min(oc.Current, oc.Demand))
					}
					if oc.Priority < c.Priority {
						spare += int64(o.Replicas-protected) * oc.Cost
					}
				}
				if spare >= c.Cost {
					t.Fatalf("round %d: claim %d short (%d < %d) with %d units to spare: %+v %+v", round, i, g.Replicas, c.Demand, spare, claims, res.Grants)
				}
			}
		}
	}
}
