package controller

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/budget"
)

// budgetMetrics export the budgets: amounts in the budget's resource (GPUs, cores, bytes),
// grants, trims and preemptions.
type budgetMetrics struct {
	max, used, requested *prometheus.GaugeVec
	granted              *prometheus.GaugeVec
	trims, preemptions   *prometheus.CounterVec
}

func newBudgetMetrics(reg prometheus.Registerer) *budgetMetrics {
	amount := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "inferscale_scaler_budget_" + name, Help: help}, []string{"budget", "resource"})
	}
	m := &budgetMetrics{
		max:       amount("max", "The budget's max, in its resource (GPUs, cores, bytes)."),
		used:      amount("used", "What the covered targets' current replicas request."),
		requested: amount("requested", "What the covered policies ask for, headroom included."),
		granted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "inferscale_scaler_budget_granted_replicas", Help: "Replicas a budget grants each covered policy.",
		}, []string{"budget", "namespace", "policy"}),
		trims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_budget_trims_total", Help: "Times a budget started to set a policy's count lower than asked, by rule (Budget, Preempted, Minimums, Headroom, Pending).",
		}, []string{"budget", "namespace", "policy", "rule"}),
		preemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inferscale_scaler_budget_preemptions_total", Help: "Scale-downs of a preemptible target for higher priorities.",
		}, []string{"budget", "namespace", "policy"}),
	}
	reg.MustRegister(m.max, m.used, m.requested, m.granted, m.trims, m.preemptions)
	return m
}

func (m *budgetMetrics) observe(name string, b budget.Budget, used, requested int64, policies []v1alpha1.BudgetPolicyStatus) {
	res := string(b.Resource)
	m.max.WithLabelValues(name, res).Set(budget.Quantity(b.Resource, b.Max).AsApproximateFloat64())
	m.used.WithLabelValues(name, res).Set(budget.Quantity(b.Resource, used).AsApproximateFloat64())
	m.requested.WithLabelValues(name, res).Set(budget.Quantity(b.Resource, requested).AsApproximateFloat64())
	for _, p := range policies {
		m.granted.WithLabelValues(name, p.Namespace, p.Name).Set(float64(p.GrantedReplicas))
	}
}

func (m *budgetMetrics) forgetPolicy(policy types.NamespacedName) {
	l := prometheus.Labels{"namespace": policy.Namespace, "policy": policy.Name}
	m.granted.DeletePartialMatch(l)
	m.trims.DeletePartialMatch(l)
	m.preemptions.DeletePartialMatch(l)
}

func (m *budgetMetrics) forgetBudget(name string) {
	l := prometheus.Labels{"budget": name}
	for _, v := range []*prometheus.GaugeVec{m.max, m.used, m.requested, m.granted} {
		v.DeletePartialMatch(l)
	}
	m.trims.DeletePartialMatch(l)
	m.preemptions.DeletePartialMatch(l)
}
