package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
)

func cpuBudget(max string) *v1alpha1.AutoscalingBudget {
	return &v1alpha1.AutoscalingBudget{ObjectMeta: metav1.ObjectMeta{Name: "cpu-team", Generation: 1},
		Spec: v1alpha1.AutoscalingBudgetSpec{Resource: "cpu", Max: resource.MustParse(max),
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}}
}

func namespace() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"kubernetes.io/metadata.name": ns}}}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// loaded ticks the fixture with both pods at inFlight for a few seconds; with a target of 5
// per replica, 10 asks for 4 replicas (in burst mode), 6 for 3.
func (f *fixture) loaded(inFlight float64) {
	f.t.Helper()
	f.load(3, inFlight, "a", "b")
	f.tick()
}

func TestBudgetTrimsAndSaysWhy(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	// 500m per pod; 1500m hold 3 of the 4 replicas the load asks for.
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now), cpuBudget("1500m"), namespace())
	f.tick()
	f.loaded(10)
	if len(f.updates) != 1 || f.updates[0] != 3 {
		t.Fatalf("/scale writes %v, want [3]", f.updates)
	}
	st := f.policy("llama").Status
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ScalingLimited)
	const why = "budget cpu-team: 1500m of 1500m cpu in use; granted 3 of 4 replicas to ai/llama (priority 0)"
	if st.DesiredReplicas != 3 || c == nil || c.Status != metav1.ConditionTrue || c.Reason != reasonBudgetLimited || c.Message != why {
		t.Fatalf("desired %d, ScalingLimited %+v; want 3, True %s %q", st.DesiredReplicas, c, reasonBudgetLimited, why)
	}
	evs := strings.Join(drain(f.events), "\n")
	if !strings.Contains(evs, "Normal BudgetLimited "+why) || !strings.Contains(evs, "SuccessfulRescale") || !strings.Contains(evs, why) {
		t.Errorf("events %q: want BudgetLimited and a rescale that both say %q", evs, why)
	}
	if n := counterValue(t, f.c.opts.Metrics.budget.trims.WithLabelValues("cpu-team", "ai", "llama", "Budget")); n != 1 {
		t.Errorf("trims counted %v, want 1", n)
	}

	var b v1alpha1.AutoscalingBudget
	if err := f.client.Get(context.Background(), client.ObjectKey{Name: "cpu-team"}, &b); err != nil {
		t.Fatal(err)
	}
	bs := b.Status
	if bs.Used.String() != "1" || bs.Requested.String() != "2" || bs.Granted.String() != "1500m" || len(bs.Policies) != 1 {
		t.Fatalf("budget status used %v requested %v granted %v policies %+v", bs.Used, bs.Requested, bs.Granted, bs.Policies)
	}
	if p := bs.Policies[0]; p.Namespace != ns || p.Name != "llama" || p.GrantedReplicas != 3 || p.RequestedReplicas != 4 || p.CurrentReplicas != 2 ||
		p.PerReplica.String() != "500m" || p.Reason != why {
		t.Errorf("budget's policy %+v", p)
	}
	if c := meta.FindStatusCondition(bs.Conditions, v1alpha1.BudgetLimited); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Limited %+v", c)
	}

	// The same load again: no new write, no new Event, no new count.
	f.loaded(10)
	if len(f.updates) != 1 || len(drain(f.events)) != 0 || counterValue(t, f.c.opts.Metrics.budget.trims.WithLabelValues("cpu-team", "ai", "llama", "Budget")) != 1 {
		t.Errorf("a steady trim wrote %v again or was reported again", f.updates)
	}
}

func TestBudgetOfAnotherNamespaceDoesNotApply(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := cpuBudget("500m")
	b.Spec.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] = "elsewhere"
	f := newFixture(t, queuePolicy("llama", now), readyPod("a", now), readyPod("b", now), b, namespace())
	f.tick()
	f.loaded(10)
	if len(f.updates) != 1 || f.updates[0] != 4 {
		t.Fatalf("/scale writes %v, want [4]", f.updates)
	}
}

// Headroom rides on the decision, and a decision that keeps the count does not read the spare
// replica as demand: the count stays put instead of growing by one every tick.
func TestHeadroomIsKeptWithoutGrowing(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := queuePolicy("llama", now)
	p.Spec.Headroom = &v1alpha1.HeadroomSpec{Replicas: ptr.To[int32](1)}
	f := newFixture(t, p, readyPod("a", now), readyPod("b", now))
	f.tick() // no data: the decision holds, and no spare replica is added to a held count
	if len(f.updates) != 0 {
		t.Fatalf("/scale writes %v without data", f.updates)
	}
	for range 6 {
		f.loaded(6)
	}
	if len(f.updates) != 1 || f.updates[0] != 4 {
		t.Fatalf("/scale writes %v, want [4]: 3 for the demand and 1 spare", f.updates)
	}
	if st := f.policy("llama").Status; st.DesiredReplicas != 4 {
		t.Errorf("desired %d", st.DesiredReplicas)
	}
}

// Two policies of one budget, decided one after the other as a tick does: the higher
// priority's growth waits for the room a preemptible lower priority gives up, a tick later,
// so the two never ask for more than the budget holds.
func TestBudgetGrowthWaitsForPreemptedRoom(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hi, lo := queuePolicy("hi", now), queuePolicy("lo", now)
	hi.Spec.Priority, lo.Spec.Preemptible = ptr.To[int32](100), true
	f := newFixture(t, cpuBudget("2"), namespace()) // 4 replicas of 500m
	f.c.syncBudgets(context.Background(), []v1alpha1.AutoscalingPolicy{*hi, *lo}, now)
	pods := []corev1.Pod{*readyPod("a", now)}
	decide := func(p *v1alpha1.AutoscalingPolicy, cur, want int32) *decisionOutcome {
		d := decisionOf(cur, want)
		spec := p.Spec.Defaulted()
		f.c.applyBudgets(p, spec, &decision.Input{CurrentReplicas: cur}, pods, &d, now)
		reason := d.Conditions[0].Reason
		if d.Conditions[0].Status != metav1.ConditionTrue {
			reason = ""
		}
		return &decisionOutcome{d.DesiredReplicas, reason, d.Reason}
	}
	type step struct {
		p         *v1alpha1.AutoscalingPolicy
		cur, want int32
		granted   int32
		reason    string
	}
	for i, s := range []step{
		{hi, 1, 3, 1, reasonBudgetPending},   // lo has not been decided yet: its usage is unknown
		{lo, 3, 3, 1, reasonBudgetPreempted}, // lo is preempted for hi
		{hi, 1, 3, 1, reasonBudgetLimited},   // lo still runs 3: hi waits
		{lo, 1, 3, 1, reasonBudgetLimited},   // lo has scaled down
		{hi, 1, 3, 3, ""},                    // now hi grows
	} {
		got := decide(s.p, s.cur, s.want)
		if got.replicas != s.granted || got.limited != s.reason {
			t.Fatalf("step %d (%s at %d wants %d): granted %d %s (%s), want %d %s", i, s.p.Name, s.cur, s.want, got.replicas, got.limited, got.why, s.granted, s.reason)
		}
	}
	evs := strings.Join(drain(f.events), "\n")
	if !strings.Contains(evs, "Warning BudgetPreempted budget cpu-team: 2 of 2 cpu in use; granted 1 of 3 replicas to ai/lo (priority 0), down from 3: preempted for higher priorities") {
		t.Errorf("events %q: want lo's preemption", evs)
	}
	if n := counterValue(t, f.c.opts.Metrics.budget.preemptions.WithLabelValues("cpu-team", "ai", "lo")); n != 1 {
		t.Errorf("preemptions counted %v, want 1", n)
	}
}

type decisionOutcome struct {
	replicas int32
	limited  string
	why      string
}

// decisionOf is a decision of want replicas at cur, with the decision core's conditions.
func decisionOf(cur, want int32) decision.Decision {
	return decision.Decision{CurrentReplicas: cur, DesiredReplicas: want, Reason: "test",
		Conditions: []metav1.Condition{{Type: v1alpha1.ScalingLimited, Status: metav1.ConditionFalse}}}
}
