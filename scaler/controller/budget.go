package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/budget"
	"github.com/inferscale/inferscale/scaler/decision"
)

// pendingClaim is how long a covered policy without a first decision holds the growth of the
// other policies of its budget: until then its usage is unknown. A policy that cannot be
// decided (invalid, a second policy of a target) is left out of the budget after that.
const pendingClaim = 10 * time.Second

// Condition reasons on ScalingLimited when a budget or headroom rule set the count.
const (
	reasonBudgetLimited   = "BudgetLimited"
	reasonBudgetPreempted = "BudgetPreempted"
	reasonBudgetMinimums  = "BudgetMinimumsDoNotFit"
	reasonHeadroomTrimmed = "HeadroomGivenUp"
	reasonBudgetReserve   = "BudgetMinimum"
	reasonBudgetPending   = "BudgetPending"
)

// budgets is the edge of scaler/budget: every tick it learns which policies each budget
// covers; each policy's reconcile records what the policy asks (its claim) and gets its grant
// from an allocation over the latest claims of its budgets; after the tick the budgets'
// status is written.
//
// Claims of other policies can be a tick old, so a grant is also bounded by what is free
// now: what the budget's max leaves after every other covered target's current replicas or
// outstanding grant, whichever is larger. A target scaled down for another one frees its
// room a tick later, and no pod is created that the budget cannot hold.
type budgets struct {
	mu     sync.Mutex
	list   []v1alpha1.AutoscalingBudget
	covers map[types.NamespacedName][]string // policy → names of its budgets
	seen   map[types.NamespacedName]time.Time
	claims map[types.NamespacedName]*claimState
	// version counts the changes of claims, costs and coverage; cache holds each budget's
	// allocation at some version.
	version uint64
	cache   map[string]*allocated
}

// claimState is what the budgets remember of one policy between ticks.
type claimState struct {
	claim budget.Claim                  // Cost unset: it depends on the budget's resource
	costs map[corev1.ResourceName]int64 // per replica, by resource
	// granted is the count last handed to the controller; headroom the spare replicas it
	// held, so that a decision holding the count is not read as a demand for them.
	granted, headroom int32
	rule              budget.Rule
	reason            string
	budget            string
}

func newBudgets() *budgets {
	return &budgets{covers: map[types.NamespacedName][]string{}, seen: map[types.NamespacedName]time.Time{},
		claims: map[types.NamespacedName]*claimState{}, cache: map[string]*allocated{}}
}

// budgetLoop is the budgets' side of the controller, a reconciler of all budgets at once:
// every Interval it writes each budget's status from the latest claims and reads again which
// policies each budget covers. The policy reconciles, each on its own, record their claims
// and get their grants from the allocations in between (applyBudgets).
type budgetLoop struct{ c *Controller }

var (
	_ manager.Runnable               = (*budgetLoop)(nil)
	_ manager.LeaderElectionRunnable = (*budgetLoop)(nil)
)

// NeedLeaderElection is true: only the leader's claims are the policies' decisions.
func (l *budgetLoop) NeedLeaderElection() bool { return true }

// Start runs the loop until ctx ends.
func (l *budgetLoop) Start(ctx context.Context) error {
	t := time.NewTicker(l.c.opts.Interval)
	defer t.Stop()
	for {
		l.c.coverBudgets(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		l.c.writeBudgetStatus(ctx, l.c.opts.Log, l.c.opts.Clock.Now())
	}
}

// coverBudgets reads the policies and then the budgets and which policies they cover.
func (c *Controller) coverBudgets(ctx context.Context) {
	listCtx, cancel := c.bounded(ctx)
	var list v1alpha1.AutoscalingPolicyList
	err := c.client.List(listCtx, &list)
	cancel()
	if err != nil {
		c.opts.Log.Error(err, "Listing AutoscalingPolicies for the budgets failed")
		return
	}
	c.syncBudgets(ctx, list.Items, c.opts.Clock.Now())
}

// syncBudgets reads the budgets and which of policies they cover.
func (c *Controller) syncBudgets(ctx context.Context, policies []v1alpha1.AutoscalingPolicy, now time.Time) {
	b := c.budgets
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	var list v1alpha1.AutoscalingBudgetList
	if err := c.client.List(ctx, &list); err != nil {
		// Without the list the last one stands: a budget is never dropped by a cache error.
		c.opts.Log.Error(err, "Listing AutoscalingBudgets failed")
		return
	}
	nsLabels := map[string]labels.Set{}
	for _, bu := range list.Items {
		if bu.Spec.NamespaceSelector != nil {
			var nss corev1.NamespaceList
			if err := c.client.List(ctx, &nss); err != nil {
				c.opts.Log.Error(err, "Listing namespaces failed")
				return
			}
			for _, n := range nss.Items {
				nsLabels[n.Name] = n.Labels
			}
			break
		}
	}
	covers := map[types.NamespacedName][]string{}
	for i := range list.Items {
		bu := &list.Items[i]
		nsSel, err1 := selectorOf(bu.Spec.NamespaceSelector)
		polSel, err2 := selectorOf(bu.Spec.PolicySelector)
		if err1 != nil || err2 != nil {
			continue // refused by the webhook; nothing to cover
		}
		for j := range policies {
			p := &policies[j]
			if nsSel.Matches(nsLabels[p.Namespace]) && polSel.Matches(labels.Set(p.Labels)) {
				nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
				covers[nn] = append(covers[nn], bu.Name)
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.list {
		if !slices.ContainsFunc(list.Items, func(x v1alpha1.AutoscalingBudget) bool { return x.Name == b.list[i].Name }) {
			c.opts.Metrics.budget.forgetBudget(b.list[i].Name)
		}
	}
	b.list, b.covers = list.Items, covers
	b.version++ // coverage may have changed, and pending claims expire
	present := map[types.NamespacedName]bool{}
	for i := range policies {
		nn := types.NamespacedName{Namespace: policies[i].Namespace, Name: policies[i].Name}
		present[nn] = true
		if _, ok := b.seen[nn]; !ok {
			b.seen[nn] = now
		}
	}
	for nn := range b.seen {
		if !present[nn] {
			delete(b.seen, nn)
			delete(b.claims, nn)
			c.opts.Metrics.budget.forgetPolicy(nn)
		}
	}
}

func selectorOf(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

// applyBudgets applies headroom and the policy's budgets to decision d: rules 1 and 4 of the
// precedence in scaler/budget, after the decision core applied 2 and 3. It changes
// d.DesiredReplicas, d.Reason and the ScalingLimited condition, and emits an Event and counts
// a trim when the rule that set the count changes.
func (c *Controller) applyBudgets(p *v1alpha1.AutoscalingPolicy, spec *v1alpha1.AutoscalingPolicySpec, in *decision.Input, pods []corev1.Pod, d *decision.Decision, now time.Time) {
	// Another autoscaler owns the target, or it was scaled to zero by hand: leave it alone.
	if in.HPAConflict != "" || in.CurrentReplicas == 0 {
		return
	}
	b := c.budgets
	nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	name := nn.String()
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.claims[nn]
	if st == nil {
		st = &claimState{costs: map[corev1.ResourceName]int64{}}
		b.claims[nn] = st
	}
	cur := in.CurrentReplicas
	unschedulable := false
	for i := range in.Pods {
		unschedulable = unschedulable || (in.Pods[i].Unschedulable && !in.Pods[i].Terminating)
	}
	demand, headroom, note := budget.Request(spec, budget.Decided{Current: cur, Desired: d.DesiredReplicas, Burst: d.Burst, Unschedulable: unschedulable, Hold: d.Hold, Spare: st.headroom})
	claim := budget.Claim{Name: name, Priority: *spec.Priority, Preemptible: spec.Preemptible, Min: *spec.MinReplicas, Max: spec.MaxReplicas,
		Current: cur, Demand: demand, Headroom: headroom}
	if claim != st.claim {
		st.claim = claim
		b.version++
	}

	grant := budget.Grant{Replicas: demand + headroom}
	granting := ""
	for _, bn := range b.covers[nn] {
		bu := b.find(bn)
		if bu == nil {
			continue
		}
		res := bu.Spec.Resource
		if cost, ok := podCost(res, pods); ok {
			if old, had := st.costs[res]; !had || old != cost {
				st.costs[res] = cost
				b.version++
			}
		}
		g := b.grant(bu, nn, now)
		if g.Replicas < grant.Replicas || (g.Rule != budget.RuleNone && grant.Rule == budget.RuleNone) {
			grant, granting = g, bn
		}
	}
	headroom = min(headroom, max(grant.Replicas-demand, 0))
	prev := d.DesiredReplicas
	d.DesiredReplicas = grant.Replicas
	switch {
	case grant.Reason != "":
		d.Reason += "; " + grant.Reason
	case note != "":
		d.Reason += "; " + note
	case headroom > 0:
		d.Reason += fmt.Sprintf("; %d for the demand + %d headroom", demand, headroom)
	}
	trims := grant.Rule != budget.RuleNone && grant.Rule != budget.RuleReserve
	if grant.Rule != budget.RuleNone {
		setLimited(d, grant)
	}
	// An Event and a count when a rule starts to trim, not on every tick that it still does.
	if trims && (grant.Rule != st.rule || granting != st.budget) {
		c.opts.Metrics.budget.trims.WithLabelValues(granting, p.Namespace, p.Name, string(grant.Rule)).Inc()
		typ := corev1.EventTypeNormal
		if grant.Rule == budget.RulePreempted {
			typ = corev1.EventTypeWarning
		}
		c.opts.Events.Eventf(p, nil, typ, ruleReasons[grant.Rule], "Scale", "%s", grant.Reason)
	}
	if grant.Rule == budget.RulePreempted && grant.Replicas < cur && prev >= cur {
		c.opts.Metrics.budget.preemptions.WithLabelValues(granting, p.Namespace, p.Name).Inc()
	}
	st.granted, st.headroom = grant.Replicas, headroom
	st.rule, st.reason, st.budget = grant.Rule, grant.Reason, granting
}

// ruleTrimPending is the rule of a grant held while another covered policy's usage is
// unknown, or this target's cost per replica is.
const ruleTrimPending budget.Rule = "Pending"

func (b *budgets) find(name string) *v1alpha1.AutoscalingBudget {
	for i := range b.list {
		if b.list[i].Name == name {
			return &b.list[i]
		}
	}
	return nil
}

// grant allocates budget bu over the latest claims of the policies it covers and returns
// policy nn's grant, bounded by what is free now. Callers hold b.mu.
func (b *budgets) grant(bu *v1alpha1.AutoscalingBudget, nn types.NamespacedName, now time.Time) budget.Grant {
	res := bu.Spec.Resource
	own := b.claims[nn]
	hold := func(why string) budget.Grant {
		n := max(min(own.claim.Demand+own.claim.Headroom, own.claim.Current), own.claim.Min)
		if n == own.claim.Demand+own.claim.Headroom {
			return budget.Grant{Replicas: n}
		}
		return budget.Grant{Replicas: n, Rule: ruleTrimPending, Reason: fmt.Sprintf("budget %s: %s; holding %d", bu.Name, why, n)}
	}
	if _, ok := own.costs[res]; !ok {
		return hold(fmt.Sprintf("the %s a replica requests is unknown until the target has a pod", res))
	}
	al := b.allocation(bu, now)
	claims, states := al.claims, al.states
	for _, other := range al.pending {
		if other != nn {
			return hold(fmt.Sprintf("waiting for the first decision of %s", other))
		}
	}
	bb, result := al.budget, al.result
	var g budget.Grant
	var others int64
	for i, cl := range claims {
		if states[i] == own {
			g = result.Grants[i]
			continue
		}
		others += int64(max(cl.Current, states[i].granted)) * cl.Cost
	}
	// Growth only into what the others leave now: their current replicas or their last
	// grant, whichever is larger.
	cost, cur := own.costs[res], own.claim.Current
	if g.Replicas > cur && cost > 0 {
		free := bb.Max - others - int64(cur)*cost
		if room := int32(min(max(free/cost, 0), int64(g.Replicas-cur))); cur+room < g.Replicas {
			n := max(cur+room, own.claim.Min)
			g = budget.Grant{Replicas: n, Rule: budget.RuleBudget, Reason: fmt.Sprintf(
				"budget %s: %s of %s in use until other targets scale down; granted %d of %d replicas to %s (priority %d)",
				bu.Name, budget.Quantity(res, others+int64(n)*cost), budget.Format(res, bb.Max), n, own.claim.Demand+own.claim.Headroom, own.claim.Name, own.claim.Priority)}
		}
	}
	return g
}

// allocated is a budget's allocation over the claims as they were at version.
type allocated struct {
	version uint64
	budget  budget.Budget
	claims  []budget.Claim
	states  []*claimState
	pending []types.NamespacedName
	result  budget.Result
}

// allocation returns bu's allocation over the latest claims, computed again only when a claim
// changed since (in a steady state, once a tick). Callers hold b.mu.
func (b *budgets) allocation(bu *v1alpha1.AutoscalingBudget, now time.Time) *allocated {
	if al := b.cache[bu.Name]; al != nil && al.version == b.version {
		return al
	}
	al := &allocated{version: b.version, budget: budgetOf(bu)}
	al.claims, al.states, al.pending = b.claimsOf(bu, now)
	al.result = budget.Allocate(al.budget, al.claims)
	b.cache[bu.Name] = al
	return al
}

// claimsOf returns the claims of the policies bu covers, costed in its resource, with their
// states, and the covered policies whose usage is not known yet (no decision within
// pendingClaim of being seen). Callers hold b.mu.
func (b *budgets) claimsOf(bu *v1alpha1.AutoscalingBudget, now time.Time) ([]budget.Claim, []*claimState, []types.NamespacedName) {
	var covered, pending []types.NamespacedName
	for nn, names := range b.covers {
		if slices.Contains(names, bu.Name) {
			covered = append(covered, nn)
		}
	}
	slices.SortFunc(covered, func(x, y types.NamespacedName) int { return cmp.Compare(x.String(), y.String()) })
	var claims []budget.Claim
	var states []*claimState
	for _, nn := range covered {
		st := b.claims[nn]
		cost, costed := int64(0), false
		if st != nil {
			cost, costed = st.costs[bu.Spec.Resource]
		}
		if !costed {
			if now.Sub(b.seen[nn]) < pendingClaim {
				pending = append(pending, nn)
			}
			continue
		}
		cl := st.claim
		cl.Cost = cost
		claims, states = append(claims, cl), append(states, st)
	}
	return claims, states, pending
}

func budgetOf(bu *v1alpha1.AutoscalingBudget) budget.Budget {
	b := budget.Budget{Name: bu.Name, Resource: bu.Spec.Resource, Max: budget.Units(bu.Spec.Resource, bu.Spec.Max)}
	if bu.Spec.Min != nil {
		b.Min = budget.Units(bu.Spec.Resource, *bu.Spec.Min)
	}
	return b
}

// podCost is the largest cost of res among the target's pods that are not terminating: what
// the scheduler reserves for one replica, sidecars and LimitRange defaults included, and
// during a rollout the larger of the old and the new template. ok is false without a pod.
func podCost(res corev1.ResourceName, pods []corev1.Pod) (int64, bool) {
	var cost int64
	ok := false
	for i := range pods {
		if pods[i].DeletionTimestamp != nil {
			continue
		}
		cost, ok = max(cost, budget.PodCost(res, &pods[i])), true
	}
	return cost, ok
}

// ruleReasons are the condition and Event reasons of the rules that set a count.
var ruleReasons = map[budget.Rule]string{
	budget.RuleBudget: reasonBudgetLimited, budget.RulePreempted: reasonBudgetPreempted, budget.RuleMinimums: reasonBudgetMinimums,
	budget.RuleHeadroom: reasonHeadroomTrimmed, budget.RuleReserve: reasonBudgetReserve, ruleTrimPending: reasonBudgetPending,
}

// setLimited makes the decision's ScalingLimited condition say which budget rule set the count.
func setLimited(d *decision.Decision, g budget.Grant) {
	reason := ruleReasons[g.Rule]
	for i := range d.Conditions {
		if d.Conditions[i].Type == v1alpha1.ScalingLimited {
			d.Conditions[i].Status = metav1.ConditionTrue
			d.Conditions[i].Reason = reason
			d.Conditions[i].Message = g.Reason
		}
	}
}

// writeBudgetStatus writes every budget's status after a tick: used and requested amounts and
// each covered policy's grant, highest priority first.
func (c *Controller) writeBudgetStatus(ctx context.Context, log logr.Logger, now time.Time) {
	b := c.budgets
	b.mu.Lock()
	type update struct {
		bu     *v1alpha1.AutoscalingBudget
		status v1alpha1.AutoscalingBudgetStatus
	}
	var updates []update
	for i := range b.list {
		bu := &b.list[i]
		al := b.allocation(bu, now)
		claims, states, pending, bb, res := al.claims, al.states, al.pending, al.budget, al.result
		s := v1alpha1.AutoscalingBudgetStatus{ObservedGeneration: bu.Generation,
			Used: budget.Quantity(bb.Resource, res.Used), Requested: budget.Quantity(bb.Resource, res.Requested)}
		var granted int64
		limited := false
		for i, cl := range claims {
			st := states[i]
			ps := v1alpha1.BudgetPolicyStatus{Name: cl.Name, Priority: cl.Priority, PerReplica: budget.Quantity(bb.Resource, cl.Cost),
				CurrentReplicas: cl.Current, RequestedReplicas: cl.Demand + cl.Headroom, GrantedReplicas: st.granted}
			ps.Namespace, ps.Name = splitName(cl.Name)
			if st.budget == bu.Name {
				ps.Reason = st.reason
			}
			limited = limited || st.granted < cl.Demand+cl.Headroom
			granted += int64(st.granted) * cl.Cost
			s.Policies = append(s.Policies, ps)
		}
		slices.SortStableFunc(s.Policies, func(x, y v1alpha1.BudgetPolicyStatus) int { return cmp.Compare(y.Priority, x.Priority) })
		if len(s.Policies) > v1alpha1.MaxBudgetPolicies {
			s.Policies = s.Policies[:v1alpha1.MaxBudgetPolicies]
		}
		s.Granted = budget.Quantity(bb.Resource, granted)
		s.Conditions = slices.Clone(bu.Status.Conditions)
		lim := metav1.Condition{Type: v1alpha1.BudgetLimited, Status: metav1.ConditionFalse, Reason: "WithinBudget",
			Message: fmt.Sprintf("the covered policies ask for %s of %s", budget.Format(bb.Resource, res.Requested), budget.Format(bb.Resource, bb.Max))}
		if limited {
			lim.Status, lim.Reason = metav1.ConditionTrue, "Limited"
			lim.Message = fmt.Sprintf("the covered policies ask for %s of %s; some get less (status.policies says who and why)", budget.Format(bb.Resource, res.Requested), budget.Format(bb.Resource, bb.Max))
		}
		if len(pending) > 0 {
			lim.Message += fmt.Sprintf("; %d covered policies have no decision yet", len(pending))
		}
		fit := metav1.Condition{Type: v1alpha1.BudgetMinimumsFit, Status: metav1.ConditionTrue, Reason: "MinimumsFit", Message: "the covered policies' minReplicas fit in the budget"}
		if !res.MinimumsFit {
			fit.Status, fit.Reason, fit.Message = metav1.ConditionFalse, "MinimumsExceedBudget", "the covered policies' minReplicas alone request more than the budget's max; each gets its minReplicas"
		}
		for _, cond := range []metav1.Condition{lim, fit} {
			cond.ObservedGeneration, cond.LastTransitionTime = bu.Generation, metav1.NewTime(now)
			apimeta.SetStatusCondition(&s.Conditions, cond)
		}
		c.opts.Metrics.budget.observe(bu.Name, bb, res.Used, res.Requested, s.Policies)
		if !equality.Semantic.DeepEqual(bu.Status, s) {
			updates = append(updates, update{bu.DeepCopy(), s})
		}
	}
	b.mu.Unlock()
	for _, u := range updates {
		orig := u.bu.DeepCopy()
		u.bu.Status = u.status
		if err := c.patchStatus(ctx, u.bu, orig); err != nil {
			log.Error(err, "Updating budget status failed", "budget", u.bu.Name)
			continue
		}
	}
}

// patchStatus patches obj's status from orig within the per-call timeout.
func (c *Controller) patchStatus(ctx context.Context, obj, orig client.Object) error {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	return c.client.Status().Patch(ctx, obj, client.MergeFrom(orig))
}

func splitName(s string) (string, string) {
	for i := range s {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}
