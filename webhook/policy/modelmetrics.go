package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

// Workload is what the model-metric warnings read of a policy's target: its own annotations
// and its pod template.
type Workload struct {
	Annotations map[string]string
	Template    corev1.PodTemplateSpec
}

// Workloads reads a policy's target.
type Workloads interface {
	// Workload returns the target; nil, nil for a kind it cannot read or a target that does
	// not exist (yet).
	Workload(ctx context.Context, namespace string, ref v1alpha1.CrossVersionObjectReference) (*Workload, error)
}

// APIWorkloads reads Deployments, StatefulSets and ReplicaSets (the kinds whose pod template
// the webhook may read) from the API server.
type APIWorkloads struct{ Reader client.Reader }

// Workload implements Workloads.
func (w APIWorkloads) Workload(ctx context.Context, namespace string, ref v1alpha1.CrossVersionObjectReference) (*Workload, error) {
	if ref.APIVersion != "apps/v1" {
		return nil, nil
	}
	var obj client.Object
	var tmpl func() corev1.PodTemplateSpec
	switch ref.Kind {
	case "Deployment":
		d := &appsv1.Deployment{}
		obj, tmpl = d, func() corev1.PodTemplateSpec { return d.Spec.Template }
	case "StatefulSet":
		s := &appsv1.StatefulSet{}
		obj, tmpl = s, func() corev1.PodTemplateSpec { return s.Spec.Template }
	case "ReplicaSet":
		r := &appsv1.ReplicaSet{}
		obj, tmpl = r, func() corev1.PodTemplateSpec { return r.Spec.Template }
	default:
		return nil, nil
	}
	if err := w.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s: %w", ref.Kind, ref.Name, err)
	}
	return &Workload{Annotations: obj.GetAnnotations(), Template: tmpl()}, nil
}

// modelMetricWarnings reads the target of a policy with ModelMetric gauges and warns as
// ModelMetricWarnings does; a target it cannot read is only a log line.
func (v *Validator) modelMetricWarnings(ctx context.Context, namespace string, p *v1alpha1.AutoscalingPolicy) []string {
	if !slices.ContainsFunc(p.Spec.Metrics, func(m v1alpha1.MetricSpec) bool { return m.ModelMetric != nil }) {
		return nil
	}
	var w *Workload
	if v.Workloads != nil && v.Inject != nil {
		var err error
		if w, err = v.Workloads.Workload(ctx, namespace, p.Spec.Target()); err != nil {
			logf.FromContext(ctx).Error(err, "reading the target for the ModelMetric warnings", "policy", namespace+"/"+p.Name)
		}
	}
	return ModelMetricWarnings(&p.Spec, w, v.Inject)
}

// maxModelMetricWarnings and maxWarningLen bound the warnings of one policy: a reason that
// quotes a long annotation must not fill the client's terminal.
const (
	maxModelMetricWarnings = 4
	maxWarningLen          = 512
)

// truncate bounds s to about n bytes by cutting its middle, at character boundaries: the
// start says what, the end why (the injector's reason ends with the limit it hit).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	head, tail := n/2-len("…"), len(s)-n/2
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}

// ModelMetricWarnings says which of the policy's ModelMetric gauges the target's pods will not
// be told to scrape, and why: the agent would read the name as one of its presets, or the pods
// get no agent (opted out, or the webhook cannot inject them safely: no port to front, an
// invalid model-metrics annotation, too many gauges with the annotation's; the injector's own
// reason). w is the target as read (nil when unknown: only the names are checked); tmpl is the
// webhook's sidecar template. It reads nothing and never fails: what it cannot tell, it does
// not warn about.
func ModelMetricWarnings(spec *v1alpha1.AutoscalingPolicySpec, w *Workload, tmpl *inject.Config) []string {
	var gauges []string
	var paths []*field.Path
	for i, m := range spec.Metrics {
		if m.ModelMetric != nil && m.ModelMetric.Name != "" && !slices.Contains(gauges, m.ModelMetric.Name) {
			gauges = append(gauges, m.ModelMetric.Name)
			paths = append(paths, field.NewPath("spec", "metrics").Index(i).Child("modelMetric", "name"))
		}
	}
	if len(gauges) == 0 {
		return nil
	}
	var warnings []string
	add := func(format string, args ...any) {
		if len(warnings) < maxModelMetricWarnings {
			warnings = append(warnings, truncate(fmt.Sprintf(format, args...), maxWarningLen))
		}
	}
	target := spec.Target().Kind + " " + spec.Target().Name
	for i, g := range gauges {
		if agentv1.ModelMetricPresets[g] != nil {
			add("%s: %q is the name of an agent preset, so the agent scrapes the preset's gauges (%s) and never a metric named %q; name one of them",
				paths[i], g, strings.Join(agentv1.ModelMetricPresets[g], ", "), g)
		}
	}
	if w == nil || tmpl == nil {
		return warnings
	}
	if why := optedOut(w); why != "" {
		add("%s: the pods of %s get no agent (%s), so nothing scrapes %s", paths[0], target, why, strings.Join(gauges, ", "))
		return warnings
	}
	cfg := *tmpl
	cfg.ModelMetrics = gauges
	pod := &corev1.Pod{ObjectMeta: *w.Template.ObjectMeta.DeepCopy(), Spec: *w.Template.Spec.DeepCopy()}
	if _, err := inject.Inject(pod, &cfg); err != nil {
		add("%s: the webhook cannot inject the agent into the pods of %s, so nothing scrapes %s: %v", paths[0], target, strings.Join(gauges, ", "), err)
	}
	return warnings
}

// optedOut says why the workload's pods get no agent despite the policy (which opts them in
// otherwise), or "".
func optedOut(w *Workload) string {
	if v, ok := w.Template.Annotations[optin.AnnotationInject]; ok {
		if v == "false" {
			return "annotation " + optin.AnnotationInject + `: "false" on its pod template`
		}
		return ""
	}
	if w.Annotations[optin.AnnotationInject] == "false" {
		return "annotation " + optin.AnnotationInject + `: "false" on it`
	}
	return ""
}
