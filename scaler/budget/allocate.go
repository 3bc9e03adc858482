package budget

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Budget is an AutoscalingBudget in units of its resource (see Units).
type Budget struct {
	// Name of the budget, for the reasons.
	Name string
	// Resource counted, e.g. nvidia.com/gpu.
	Resource corev1.ResourceName
	// Max is the most the covered targets may request together; Min (0: none) what they
	// keep even without demand.
	Max, Min int64
}

// Claim is what one covered policy asks of a budget.
type Claim struct {
	// Name of the policy, e.g. "ai/llama", for the reasons.
	Name string
	// Priority and Preemptible are the policy's spec.priority and spec.preemptible.
	Priority    int32
	Preemptible bool
	// Min and Max are the policy's minReplicas and maxReplicas.
	Min, Max int32
	// Current is the target's replica count now.
	Current int32
	// Demand is the decision's replica count; Headroom the spare replicas wanted above it
	// (see Request).
	Demand, Headroom int32
	// Cost is what one replica requests of the budget's resource, in units. A target whose
	// pods request none of it is granted what it asks.
	Cost int64
}

// Rule says which rule of the allocation set a grant.
type Rule string

// Rules, as the metrics and the policy's condition name them.
const (
	// RuleNone: the policy got what it asked.
	RuleNone Rule = ""
	// RuleHeadroom: the demand was granted, some headroom was given up.
	RuleHeadroom Rule = "Headroom"
	// RuleBudget: the demand was trimmed; the target keeps what it runs.
	RuleBudget Rule = "Budget"
	// RulePreempted: the target is scaled below what it runs and needs, for higher priorities
	// (or because the budget shrank below what the covered targets run).
	RulePreempted Rule = "Preempted"
	// RuleMinimums: the minReplicas alone do not fit; the policy gets its minReplicas.
	RuleMinimums Rule = "Minimums"
	// RuleReserve: the budget's min raised the grant above the request.
	RuleReserve Rule = "Reserve"
)

// Grant is the outcome for one claim.
type Grant struct {
	// Replicas granted: at least the claim's Min, at most its Max.
	Replicas int32
	// Rule that set it, and Reason, in words, e.g. "budget gpu-team-a: 12 of 12 GPUs in
	// use; granted 2 of 5 replicas to ai/llama (priority 100)"; empty when the claim got what
	// it asked.
	Rule   Rule
	Reason string
}

// Result is the allocation of one budget.
type Result struct {
	// Grants, one per claim, in the claims' order.
	Grants []Grant
	// Used is what the claims' Current replicas request; Requested what Demand + Headroom
	// would; Granted what the grants do.
	Used, Requested, Granted int64
	// MinimumsFit is false when the claims' Min alone request more than the budget's Max.
	MinimumsFit bool
}

// Limited reports whether some claim got less than it asked.
func (r *Result) Limited() bool {
	for _, g := range r.Grants {
		if g.Rule != RuleNone && g.Rule != RuleReserve {
			return true
		}
	}
	return false
}

// Allocate shares b among claims; see the package documentation for the rules. It never
// panics: out-of-range fields of a claim are clamped (Demand into [Min, Max], Headroom to
// Max − Demand, negative costs to zero).
func Allocate(b Budget, claims []Claim) Result {
	cs := make([]Claim, len(claims))
	for i, c := range claims {
		cs[i] = sanitize(c)
	}
	a := allocation{claims: cs, grants: make([]int32, len(cs)), free: b.Max}
	a.groups = a.byPriority()
	res := Result{Grants: make([]Grant, len(cs)), MinimumsFit: true}
	for _, c := range cs {
		res.Used = addSat(res.Used, mulSat(int64(c.Current), c.Cost))
		res.Requested = addSat(res.Requested, mulSat(int64(c.Demand+c.Headroom), c.Cost))
	}

	// Tier 1: every policy's minReplicas, fitting or not.
	for i, c := range cs {
		a.grants[i] = c.Min
		a.free -= mulSat(int64(c.Min), c.Cost)
	}
	if a.free < 0 {
		res.MinimumsFit = false
		for i, c := range cs {
			if c.Cost == 0 {
				a.grants[i] = c.Demand + c.Headroom
			}
		}
	} else {
		a.tier(func(c *Claim) int32 {
			if c.Preemptible {
				return c.Min
			}
			return max(c.Min, min(c.Current, c.Demand))
		})
		a.tier(func(c *Claim) int32 { return c.Demand })
		a.tier(func(c *Claim) int32 { return c.Demand + c.Headroom })
		if b.Min > 0 && b.Max-a.free < b.Min {
			a.reserve(b.Max - b.Min)
		}
	}

	for i := range cs {
		res.Granted = addSat(res.Granted, mulSat(int64(a.grants[i]), cs[i].Cost))
	}
	w := words{b: b, res: &res}
	for i := range cs {
		res.Grants[i] = w.grant(&cs[i], a.grants[i])
	}
	return res
}

func sanitize(c Claim) Claim {
	c.Min = max(c.Min, 0)
	c.Max = max(c.Max, c.Min)
	c.Current = max(c.Current, 0)
	c.Demand = min(max(c.Demand, c.Min), c.Max)
	c.Headroom = min(max(c.Headroom, 0), c.Max-c.Demand)
	c.Cost = max(c.Cost, 0)
	return c
}

// allocation is the state of one Allocate: grants so far and what is left of the budget.
type allocation struct {
	claims []Claim
	grants []int32
	free   int64
	groups [][]int // claim indexes by priority, highest first
}

// tier raises every grant towards target(claim), priority by priority, as far as the budget
// allows. Claims that cost nothing get their target at once.
func (a *allocation) tier(target func(*Claim) int32) {
	for _, group := range a.groups {
		a.fill(group, target, a.free)
	}
}

// reserve raises grants towards maxReplicas until no more than leave is free.
func (a *allocation) reserve(leave int64) {
	for _, group := range a.groups {
		if a.free <= leave {
			return
		}
		a.fill(group, func(c *Claim) int32 { return c.Max }, a.free-leave)
		// One more replica may be needed to reach the min: the first that still fits.
		for _, i := range group {
			if c := &a.claims[i]; a.free > leave && a.grants[i] < c.Max && c.Cost > 0 && c.Cost <= a.free {
				a.grants[i]++
				a.free -= c.Cost
			}
		}
	}
}

// byPriority returns the claims' indexes grouped by priority, highest first, each group in
// the claims' order.
func (a *allocation) byPriority() [][]int {
	idx := make([]int, len(a.claims))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return cmp.Compare(a.claims[y].Priority, a.claims[x].Priority) })
	var groups [][]int
	for i, j := range idx {
		if i == 0 || a.claims[j].Priority != a.claims[idx[i-1]].Priority {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], j)
	}
	return groups
}

// fill raises the grants of group towards target using at most capacity units: all of it
// when it fits, else in proportion to each claim's shortfall in units (largest remainders
// first for the last replicas).
func (a *allocation) fill(group []int, target func(*Claim) int32, capacity int64) {
	type want struct {
		i    int
		need int32
		frac float64
	}
	var wants []want
	var total int64
	for _, i := range group {
		c := &a.claims[i]
		need := target(c) - a.grants[i]
		if need <= 0 {
			continue
		}
		if c.Cost == 0 {
			a.grants[i] += need
			continue
		}
		wants = append(wants, want{i: i, need: need})
		total = addSat(total, mulSat(int64(need), c.Cost))
	}
	if len(wants) == 0 || capacity <= 0 {
		return
	}
	if total <= capacity {
		for _, w := range wants {
			a.grants[w.i] += w.need
			a.free -= mulSat(int64(w.need), a.claims[w.i].Cost)
		}
		return
	}
	// A claim's share of capacity is proportional to its shortfall in units, so its share in
	// replicas is capacity/total of its shortfall in replicas.
	ratio := float64(capacity) / float64(total)
	used := int64(0)
	for k := range wants {
		w := &wants[k]
		exact := ratio * float64(w.need)
		n := min(int32(math.Floor(exact)), w.need)
		cost := mulSat(int64(n), a.claims[w.i].Cost)
		if used+cost > capacity { // float rounding
			n, cost = 0, 0
		}
		w.frac = exact - float64(n)
		a.grants[w.i] += n
		w.need -= n
		used += cost
	}
	// The remainder: one replica at a time, largest fraction first, while any fits.
	slices.SortStableFunc(wants, func(x, y want) int { return cmp.Compare(y.frac, x.frac) })
	for progress := true; progress; {
		progress = false
		for k := range wants {
			w := &wants[k]
			if c := a.claims[w.i].Cost; w.need > 0 && used+c <= capacity {
				a.grants[w.i]++
				w.need--
				used += c
				progress = true
			}
		}
	}
	a.free -= used
}

// words explains the grants of one allocation; the words every reason shares are made once.
type words struct {
	b    Budget
	res  *Result
	head string // "budget b: 12 of 12 GPUs in use"
	max  string
}

func (w *words) inUse() string {
	if w.head == "" {
		w.head = fmt.Sprintf("budget %s: %s of %s in use", w.b.Name, Quantity(w.b.Resource, w.res.Granted), w.maxText())
	}
	return w.head
}

func (w *words) maxText() string {
	if w.max == "" {
		w.max = Format(w.b.Resource, w.b.Max)
	}
	return w.max
}

// grant explains the grant g of claim c.
func (w *words) grant(c *Claim, g int32) Grant {
	b, res := w.b, w.res
	asked := c.Demand + c.Headroom
	if g == asked && (c.Cost == 0 || res.MinimumsFit) {
		return Grant{Replicas: g}
	}
	who := fmt.Sprintf("%s (priority %d)", c.Name, c.Priority)
	switch {
	case !res.MinimumsFit:
		return Grant{Replicas: g, Rule: RuleMinimums, Reason: fmt.Sprintf(
			"budget %s: the covered policies' minReplicas alone request more than its %s; granted %s its minReplicas %d",
			b.Name, w.maxText(), who, c.Min)}
	case g > asked:
		return Grant{Replicas: g, Rule: RuleReserve, Reason: fmt.Sprintf("budget %s keeps at least %s: granted %d replicas to %s, %d above its request of %d",
			b.Name, Format(b.Resource, b.Min), g, who, g-asked, asked)}
	case g >= c.Demand:
		return Grant{Replicas: g, Rule: RuleHeadroom, Reason: fmt.Sprintf("%s; granted %d of %d replicas to %s: %s of headroom given up",
			w.inUse(), g, asked, who, replicasWord(asked-g))}
	case g < min(c.Current, c.Demand):
		why := "preempted for higher priorities"
		if !c.Preemptible {
			why = "the budget holds less than the covered targets run"
		}
		return Grant{Replicas: g, Rule: RulePreempted, Reason: fmt.Sprintf("%s; granted %d of %d replicas to %s, down from %d: %s",
			w.inUse(), g, asked, who, c.Current, why)}
	}
	return Grant{Replicas: g, Rule: RuleBudget, Reason: fmt.Sprintf("%s; granted %d of %d replicas to %s", w.inUse(), g, asked, who)}
}
