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
	for range 3 {
		f.clock.Step(time.Second)
		f.report("a", inFlight)
		f.report("b", inFlight)
	}
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
	if n := counterValue(t, f.c.opts.Metrics.budget.trims.WithLabelValues("cpu-team", "ai/llama", "Budget")); n != 1 {
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
	if len(f.updates) != 1 || len(drain(f.events)) != 0 || counterValue(t, f.c.opts.Metrics.budget.trims.WithLabelValues("cpu-team", "ai/llama", "Budget")) != 1 {
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
