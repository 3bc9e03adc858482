package policy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/webhook/inject"
)

// llamaSample is the shipped llama sample's policy and Deployment.
func llamaSample(t *testing.T) (*v1alpha1.AutoscalingPolicy, *appsv1.Deployment) {
	t.Helper()
	raw, err := os.ReadFile("../../manifests/samples/workloads/llama-deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	p, d := &v1alpha1.AutoscalingPolicy{}, &appsv1.Deployment{}
	if err := yaml.Unmarshal([]byte(docs[0]), p); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(docs[1]), d); err != nil {
		t.Fatal(err)
	}
	if p.Kind != "AutoscalingPolicy" || d.Kind != "Deployment" {
		t.Fatalf("the sample's first documents are a %s and a %s, want the policy and the Deployment", p.Kind, d.Kind)
	}
	return p, d
}

func TestModelMetricWarnings(t *testing.T) {
	tmpl := inject.DefaultConfig()
	sample, dep := llamaSample(t)
	workloadOf := func(mutate func(*Workload)) *Workload {
		w := &Workload{Annotations: dep.Annotations, Template: *dep.Spec.Template.DeepCopy()}
		if mutate != nil {
			mutate(w)
		}
		return w
	}
	withGauge := func(names ...string) *v1alpha1.AutoscalingPolicySpec {
		s := sample.Spec.DeepCopy()
		for _, n := range names {
			s.Metrics = append(s.Metrics, v1alpha1.MetricSpec{Type: v1alpha1.ModelMetricType, ModelMetric: &v1alpha1.ModelMetricSource{Name: n}})
		}
		return s
	}
	many := make([]string, 62)
	for i := range many {
		many[i] = fmt.Sprintf("gauge_%d", i)
	}
	for _, tt := range []struct {
		name string
		spec *v1alpha1.AutoscalingPolicySpec
		w    *Workload
		want []string // one warning each; none when empty
	}{
		{"the shipped sample", &sample.Spec, workloadOf(nil), nil},
		{"the sample, target unknown", &sample.Spec, nil, nil},
		{"a preset's name", withGauge("vllm"), workloadOf(nil),
			[]string{`spec.metrics[3].modelMetric.name: "vllm" is the name of an agent preset`}},
		{"a preset's name, target unknown", withGauge("tgi"), nil,
			[]string{`"tgi" is the name of an agent preset, so the agent scrapes the preset's gauges (tgi_queue_size, tgi_batch_current_size)`}},
		{"opted out on the template", &sample.Spec, workloadOf(func(w *Workload) {
			w.Template.Annotations = map[string]string{"inferscale.io/inject": "false"}
		}), []string{`spec.metrics[1].modelMetric.name: the pods of Deployment llama-8b get no agent (annotation inferscale.io/inject: "false" on its pod template), so nothing scrapes vllm:num_requests_waiting`}},
		{"opted out on the Deployment", &sample.Spec, workloadOf(func(w *Workload) {
			w.Annotations = map[string]string{"inferscale.io/inject": "false"}
		}), []string{`(annotation inferscale.io/inject: "false" on it)`}},
		{"the template opts in over the Deployment", &sample.Spec, workloadOf(func(w *Workload) {
			w.Annotations = map[string]string{"inferscale.io/inject": "false"}
			w.Template.Annotations = map[string]string{"inferscale.io/inject": "true"}
		}), nil},
		{"no port to front", &sample.Spec, workloadOf(func(w *Workload) { w.Template.Spec.Containers[0].Ports = nil }),
			[]string{"the webhook cannot inject the agent into the pods of Deployment llama-8b, so nothing scrapes vllm:num_requests_waiting: not injected:"}},
		{"an invalid model-metrics-path", &sample.Spec, workloadOf(func(w *Workload) {
			w.Template.Annotations = map[string]string{"inferscale.io/model-metrics-path": "metrics"}
		}), []string{"inferscale.io/model-metrics-path"}},
		{"too many gauges with the annotation's", withGauge("a_gauge", "b_gauge"), workloadOf(func(w *Workload) {
			w.Template.Annotations = map[string]string{"inferscale.io/model-metrics": strings.Join(many, ",")}
		}), []string{"a report holds at most 64"}},
		{"at most four warnings", withGauge("vllm", "tgi", "triton", "vllm", "tgi"), workloadOf(func(w *Workload) { w.Template.Spec.Containers[0].Ports = nil }),
			[]string{"vllm", "tgi", "triton", "cannot inject"}},
	} {
		got := ModelMetricWarnings(tt.spec, tt.w, &tmpl)
		for _, w := range got {
			if len(w) > maxWarningLen {
				t.Errorf("%s: a warning of %d bytes", tt.name, len(w))
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d warnings %q, want %d", tt.name, len(got), got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			t.Logf("%s: %s", tt.name, got[i])
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %d %q lacks %q", tt.name, i, got[i], w)
			}
		}
	}
}

// The validator reads the target live and warns on create; a policy without ModelMetric reads
// nothing; a target that is not there yet (the sample applies the policy first) warns about
// nothing but the names.
func TestValidatorWarnsAboutModelMetrics(t *testing.T) {
	tmpl := inject.DefaultConfig()
	_, dep := llamaSample(t)
	dep.Namespace, dep.Name = "ai", "llama"
	dep.Spec.Template.Annotations = map[string]string{"inferscale.io/inject": "false"}
	reads := 0
	w := countingWorkloads{APIWorkloads{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(dep).Build()}, &reads}
	v := &Validator{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).Build(), Scales: scales{}, Access: allowAll(), Workloads: w, Inject: &tmpl}

	withGauge := validPolicy + "  - type: ModelMetric\n    modelMetric: {name: \"vllm:num_requests_waiting\", averageValue: 5}\n"
	resp := v.Handle(context.Background(), request(t, admissionv1.Create, withGauge, ""))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], `the pods of Deployment llama get no agent (annotation inferscale.io/inject: "false" on its pod template)`) {
		t.Errorf("allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, withGauge, withGauge)); len(resp.Warnings) != 0 || reads != 1 {
		t.Errorf("an update that changes no spec: warnings %q, %d reads", resp.Warnings, reads)
	}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, validPolicy, "")); len(resp.Warnings) != 0 || reads != 1 {
		t.Errorf("no ModelMetric: warnings %q, %d reads", resp.Warnings, reads)
	}
	absent := strings.Replace(withGauge, "name: llama}", "name: not-yet}", 1)
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, absent, "")); !resp.Allowed || len(resp.Warnings) != 0 {
		t.Errorf("a target not created yet: allowed %v, warnings %q", resp.Allowed, resp.Warnings)
	}
}

type countingWorkloads struct {
	APIWorkloads
	n *int
}

func (c countingWorkloads) Workload(ctx context.Context, ns string, ref v1alpha1.CrossVersionObjectReference) (*Workload, error) {
	*c.n++
	return c.APIWorkloads.Workload(ctx, ns, ref)
}

// APIWorkloads reads the template of the apps kinds and nothing of others.
func TestAPIWorkloads(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"a": "b"}}}
	objs := []*appsv1.StatefulSet{{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ai", Annotations: map[string]string{"on": "it"}}, Spec: appsv1.StatefulSetSpec{Template: tmpl}}}
	w := APIWorkloads{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(objs[0]).Build()}
	got, err := w.Workload(context.Background(), "ai", v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "s"})
	if err != nil || got == nil || got.Template.Annotations["a"] != "b" || got.Annotations["on"] != "it" {
		t.Errorf("StatefulSet: %+v, %v", got, err)
	}
	for _, ref := range []v1alpha1.CrossVersionObjectReference{
		{APIVersion: "apps/v1", Kind: "Deployment", Name: "s"},
		{APIVersion: "workload.matrixinfer.ai/v1alpha1", Kind: "ModelInfer", Name: "s"},
	} {
		if got, err := w.Workload(context.Background(), "ai", ref); got != nil || err != nil {
			t.Errorf("%s: %+v, %v; want nothing", ref.Kind, got, err)
		}
	}
}
