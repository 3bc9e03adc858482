package decision

import (
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// resourceMetric is HPA's resource metric: cpu and memory from metrics.k8s.io, by
// GetResourceReplicas for a Utilization target and calcPlainMetricReplicas for an AverageValue
// one; nvidia.com/gpu is the agents' NVML utilization instead (metrics.k8s.io has none).
type resourceMetric struct{}

func init() { registerMetricType(v1alpha1.ResourceMetricType, resourceMetric{}) }

func (resourceMetric) fromAgents(m *v1alpha1.MetricSpec) bool {
	return m.Resource != nil && m.Resource.Name == v1alpha1.GPUResourceName
}

func (resourceMetric) describe(m *v1alpha1.MetricSpec, ev *evaluation) (float64, bool) {
	if m.Resource == nil {
		return 0, false
	}
	name := string(m.Resource.Name)
	ev.status.Name, ev.driving = name, "Resource "+name
	t := &m.Resource.Target
	switch {
	case t.Type == v1alpha1.UtilizationMetricType && t.AverageUtilization != nil:
		ev.label = name + " utilization"
		ev.target = strconv.Itoa(int(*t.AverageUtilization)) + "%"
		return float64(*t.AverageUtilization), true
	case t.Type == v1alpha1.AverageValueMetricType && t.AverageValue != nil:
		ev.label = name
		ev.target = t.AverageValue.String() + "/replica"
		ev.status.Target = t.AverageValue.String()
		return float64(t.AverageValue.MilliValue()), true
	case t.Type == v1alpha1.ValueMetricType && t.Value != nil:
		ev.label = name + " total"
		ev.target = t.Value.String()
		return float64(t.Value.MilliValue()), true
	}
	return 0, false
}

func (resourceMetric) evaluate(e *evaluator, m *v1alpha1.MetricSpec, target float64, ev *evaluation) {
	name := m.Resource.Name
	if name == v1alpha1.GPUResourceName {
		gpuAverage(e, target, ev, reportv1.GPUUtilization)
		return
	}
	usages := e.in.Resources[name]
	if len(usages) == 0 {
		ev.err = fmt.Errorf("unable to get metrics for resource %s: no metrics returned from resource metrics API", name)
		return
	}
	rule := runningIsReady
	if name == corev1.ResourceCPU {
		rule = cpuRules
	}
	t := &m.Resource.Target
	if t.Type == v1alpha1.UtilizationMetricType {
		e.utilization(name, usages, rule, *t.AverageUtilization, ev)
		return
	}
	var s podSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		u, has := usages[p.Name]
		switch e.classify(p, has, rule, u) {
		case podReady:
			s.ready++
			s.sum += float64(u.Value)
		case podUnready:
			s.unready++
		case podMissing:
			s.missing++
		}
	}
	if t.Type == v1alpha1.ValueMetricType {
		// HPA has no Value target for resources; treat the total like an object metric.
		if s.ready == 0 {
			ev.err = errors.New("did not receive metrics for targeted pods (pods might be unready)")
			return
		}
		ev.ratio = s.sum / target
		ev.replicas = objectReplicas(e.cur, ev.ratio, s.ready, e.tol)
		ev.current = quantity(name, int64(s.sum))
		ev.status.Current = ev.current
		return
	}
	replicas, avg, ratio, err := plainReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = fmt.Errorf("failed to get %s usage: %w", name, err)
		return
	}
	ev.replicas, ev.ratio = replicas, ratio
	ev.status.Current = quantity(name, int64(avg))
	ev.current = ev.status.Current + "/replica"
}

// utilization is HPA's computeStatusForResourceMetricGeneric for a Utilization target.
func (e *evaluator) utilization(name corev1.ResourceName, usages map[string]ResourceUsage, rule readinessRule, target int32, ev *evaluation) {
	fallback := int64(max(100, target))
	var s resourceSample
	for i := range e.in.Pods {
		p := &e.in.Pods[i]
		// HPA's calculateRequests needs a request of every pod, ignored ones included.
		req, ok := p.Requests[name]
		if !ok {
			ev.err = fmt.Errorf("failed to get %s utilization: missing request for %s in Pod %s", name, name, p.Name)
			return
		}
		u, has := usages[p.Name]
		switch e.classify(p, has, rule, u) {
		case podReady:
			s.ready++
			s.usage += u.Value
			s.requests += req
		case podUnready:
			s.unready++
			s.unreadyRequests += req
		case podMissing:
			s.missing++
			s.missingRequests += req
			s.missingUsage += req * fallback / 100
		}
	}
	replicas, utilization, raw, ratio, err := resourceReplicas(e.cur, s, target, e.tol)
	if err != nil {
		ev.err = fmt.Errorf("failed to get %s utilization: %w", name, err)
		return
	}
	ev.replicas, ev.ratio = replicas, ratio
	ev.current = strconv.Itoa(int(utilization)) + "%"
	ev.status.Current = ev.current + " (" + quantity(name, raw) + "/replica)"
}

// quantity renders a milli-value of a resource as HPA's buildQuantity does.
func quantity(name corev1.ResourceName, milli int64) string {
	format := resource.DecimalSI
	if name == corev1.ResourceMemory {
		format = resource.BinarySI
	}
	return resource.NewMilliQuantity(milli, format).String()
}
