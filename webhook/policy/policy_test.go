package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// scales knows Deployments (scalable) and Services (not); anything else is unknown.
type scales struct{ err error }

func (s scales) HasScale(_ context.Context, gvk schema.GroupVersionKind) (bool, bool, error) {
	switch gvk.GroupKind().String() {
	case "Deployment.apps", "StatefulSet.apps":
		return true, true, s.err
	case "Service":
		return true, false, s.err
	}
	return false, false, s.err
}

func newScheme(t testing.TB) *runtime.Scheme {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

const validPolicy = `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: llama, namespace: ai}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  maxReplicas: 5
  metrics:
  - type: QueueDepth
    queueDepth: {averageValue: 4}
`

func request(t testing.TB, op admissionv1.Operation, manifest, old string) admission.Request {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Namespace: "ai", Name: "llama", Object: runtime.RawExtension{Raw: raw},
	}}
	if old != "" {
		oldRaw, err := yaml.YAMLToJSON([]byte(old))
		if err != nil {
			t.Fatal(err)
		}
		req.OldObject = runtime.RawExtension{Raw: oldRaw}
	}
	return req
}

func policyObj(name, kind, target string) *v1alpha1.AutoscalingPolicy {
	return &v1alpha1.AutoscalingPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ai"},
		Spec: v1alpha1.AutoscalingPolicySpec{TargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: target}}}
}

func hpa(name, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ai"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MaxReplicas:    3,
		}}
}

func causes(resp admission.Response) []string {
	if resp.Result == nil || resp.Result.Details == nil {
		return nil
	}
	var out []string
	for _, c := range resp.Result.Details.Causes {
		out = append(out, c.Field+": "+c.Message)
	}
	return out
}

func TestValidator(t *testing.T) {
	tests := []struct {
		name         string
		op           admissionv1.Operation
		manifest     string
		old          string
		objects      []client.Object
		wantAllowed  bool
		wantCauses   []string // field paths, every one of them, in order
		wantWarnings []string
	}{
		{name: "valid policy", op: admissionv1.Create, manifest: validPolicy, wantAllowed: true},
		{
			name: "every field error at once",
			op:   admissionv1.Create,
			manifest: strings.NewReplacer("maxReplicas: 5", "maxReplicas: 0\n  minReplicas: 0",
				"queueDepth: {averageValue: 4}", "queueDepth: {averageValue: -4}\n    latency: {percentile: 101, target: 1s}").Replace(validPolicy),
			wantCauses: []string{"spec.maxReplicas", "spec.minReplicas", "spec.metrics[0].latency", "spec.metrics[0].latency.percentile", "spec.metrics[0].queueDepth.averageValue"},
		},
		{
			name:       "unknown field",
			op:         admissionv1.Create,
			manifest:   strings.Replace(validPolicy, "maxReplicas: 5", "maxReplicas: 5\n  maxReplica: 5", 1),
			wantCauses: []string{"spec.maxReplica"},
		},
		{
			name:       "second policy for the same target names the first",
			op:         admissionv1.Create,
			manifest:   validPolicy,
			objects:    []client.Object{policyObj("older", "Deployment", "llama")},
			wantCauses: []string{"spec.targetRef"},
		},
		{
			name:       "HPA's scaleTargetRef: a second policy is refused at that field",
			op:         admissionv1.Create,
			manifest:   strings.Replace(validPolicy, "targetRef:", "scaleTargetRef:", 1),
			objects:    []client.Object{policyObj("older", "Deployment", "llama")},
			wantCauses: []string{"spec.scaleTargetRef"},
		},
		{
			name:        "an update from targetRef to the same scaleTargetRef is no retarget",
			op:          admissionv1.Update,
			manifest:    strings.Replace(validPolicy, "targetRef:", "scaleTargetRef:", 1),
			old:         validPolicy,
			objects:     []client.Object{policyObj("older", "Deployment", "llama")},
			wantAllowed: true,
		},
		{
			name:       "targetRef and scaleTargetRef that differ",
			op:         admissionv1.Create,
			manifest:   strings.Replace(validPolicy, "  targetRef:", "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: other}\n  targetRef:", 1),
			wantCauses: []string{"spec.scaleTargetRef"},
		},
		{
			name:        "a policy for another kind of the same name",
			op:          admissionv1.Create,
			manifest:    validPolicy,
			objects:     []client.Object{policyObj("sts", "StatefulSet", "llama")},
			wantAllowed: true,
		},
		{
			name:        "updating itself is no duplicate",
			op:          admissionv1.Update,
			manifest:    strings.Replace(validPolicy, "name: llama}", "name: other}", 1),
			old:         validPolicy,
			objects:     []client.Object{policyObj("llama", "Deployment", "llama")},
			wantAllowed: true,
		},
		{
			name:        "an update that keeps the target is not rechecked",
			op:          admissionv1.Update,
			manifest:    strings.Replace(validPolicy, "maxReplicas: 5", "maxReplicas: 6", 1),
			old:         validPolicy,
			objects:     []client.Object{policyObj("older", "Deployment", "llama")},
			wantAllowed: true,
		},
		{
			name:       "an update that retargets is rechecked",
			op:         admissionv1.Update,
			manifest:   validPolicy,
			old:        strings.Replace(validPolicy, "name: llama}", "name: other}", 1),
			objects:    []client.Object{policyObj("older", "Deployment", "llama")},
			wantCauses: []string{"spec.targetRef"},
		},
		{
			name:         "an HPA on the target is a warning",
			op:           admissionv1.Create,
			manifest:     validPolicy,
			objects:      []client.Object{hpa("llama-hpa", "llama"), hpa("other-hpa", "other")},
			wantAllowed:  true,
			wantWarnings: []string{"HorizontalPodAutoscaler llama-hpa already scales Deployment llama"},
		},
		{
			name:       "a known kind without /scale",
			op:         admissionv1.Create,
			manifest:   strings.Replace(validPolicy, "{apiVersion: apps/v1, kind: Deployment, name: llama}", "{apiVersion: v1, kind: Service, name: llama}", 1),
			wantCauses: []string{"spec.targetRef.kind"},
		},
		{
			name:        "an unknown kind passes: its CRD may come later",
			op:          admissionv1.Create,
			manifest:    strings.Replace(validPolicy, "{apiVersion: apps/v1, kind: Deployment, name: llama}", "{apiVersion: workload.matrixinfer.ai/v1alpha1, kind: ModelInfer, name: llama}", 1),
			wantAllowed: true,
		},
		{
			name:         "risky but legal spec warns",
			op:           admissionv1.Create,
			manifest:     strings.Replace(validPolicy, "maxReplicas: 5", "maxReplicas: 5\n  minReplicas: 5", 1),
			wantAllowed:  true,
			wantWarnings: []string{"spec.minReplicas equals spec.maxReplicas"},
		},
		{name: "delete is allowed", op: admissionv1.Delete, manifest: "{}", wantAllowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(tt.objects...).Build()
			v := &Validator{Reader: c, Scales: scales{}, Access: allowAll()}
			resp := v.Handle(context.Background(), request(t, tt.op, tt.manifest, tt.old))
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, tt.wantAllowed, resp.Result)
			}
			got := causes(resp)
			if len(got) != len(tt.wantCauses) {
				t.Fatalf("causes %q, want fields %q", got, tt.wantCauses)
			}
			for i, want := range tt.wantCauses {
				if !strings.HasPrefix(got[i], want+": ") {
					t.Errorf("cause %d = %q, want field %s", i, got[i], want)
				}
			}
			if !tt.wantAllowed {
				if resp.Result.Reason != metav1.StatusReasonInvalid || resp.Result.Details.Kind != "AutoscalingPolicy" || resp.Result.Details.Group != "inferscale.io" {
					t.Errorf("status %+v, want Invalid for AutoscalingPolicy.inferscale.io", resp.Result)
				}
				for _, want := range tt.wantCauses {
					if !strings.Contains(resp.Result.Message, want) {
						t.Errorf("message %q does not name %s, as kubectl shows it", resp.Result.Message, want)
					}
				}
			}
			warnings := strings.Join(resp.Warnings, "\n")
			if len(resp.Warnings) != len(tt.wantWarnings) {
				t.Errorf("warnings %q, want %q", resp.Warnings, tt.wantWarnings)
			}
			for _, want := range tt.wantWarnings {
				if !strings.Contains(warnings, want) {
					t.Errorf("warnings %q lack %q", warnings, want)
				}
			}
		})
	}
}

func TestDuplicateNamesTheExistingPolicy(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(policyObj("older", "Deployment", "llama")).Build()
	resp := (&Validator{Reader: c, Scales: scales{}, Access: allowAll()}).Handle(context.Background(), request(t, admissionv1.Create, validPolicy, ""))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "AutoscalingPolicy older") {
		t.Errorf("response %+v, want a refusal naming AutoscalingPolicy older", resp.Result)
	}
}

func TestStateErrorsAdmitWithWarnings(t *testing.T) {
	boom := errors.New("cache not synced")
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error { return boom },
	}).Build()
	resp := (&Validator{Reader: c, Scales: scales{err: boom}, Access: allowAll()}).Handle(context.Background(), request(t, admissionv1.Create, validPolicy, ""))
	if !resp.Allowed || len(resp.Warnings) != 3 {
		t.Errorf("allowed %v, warnings %q: want admitted with a warning per failed check", resp.Allowed, resp.Warnings)
	}
}

func TestMalformedJSONIsABadRequest(t *testing.T) {
	v := &Validator{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).Build(), Access: allowAll()}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{"spec":`)}}}
	if resp := v.Handle(context.Background(), req); resp.Allowed || resp.Result.Code != 400 {
		t.Errorf("response %+v, want 400", resp.Result)
	}
}

// Every sample policy passes, the MatrixInfer ones (whose ModelInfer CRD is
// not installed) included.
func TestSamplesPass(t *testing.T) {
	files, err := filepath.Glob("../../manifests/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../manifests/samples/workloads/*.yaml")
	v := &Validator{Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).Build(), Scales: scales{}, Access: allowAll()}
	n := 0
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			if !bytes.Contains(doc, []byte("kind: AutoscalingPolicy")) {
				continue
			}
			n++
			if resp := v.Handle(context.Background(), request(t, admissionv1.Create, string(doc), "")); !resp.Allowed {
				t.Errorf("%s refused: %v", f, resp.Result.Message)
			}
		}
	}
	if n < 9 {
		t.Errorf("checked %d sample policies, want at least 9", n)
	}
}

func TestDiscoveryScales(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}, {Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	lister := &fakeLister{lists: map[string][]string{
		"apps/v1": {"deployments", "deployments/scale", "deployments/status"},
		"v1":      {"services", "services/status"},
	}}
	clk := clocktesting.NewFakePassiveClock(time.Now())
	d := &DiscoveryScales{Mapper: mapper, Discovery: lister, Clock: clk, TTL: time.Minute}
	ctx := context.Background()
	for _, tt := range []struct {
		gvk                 schema.GroupVersionKind
		wantKnown, wantScal bool
	}{
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, true, true},
		{schema.GroupVersionKind{Group: "apps", Version: "v1beta2", Kind: "Deployment"}, true, true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, true, false},
		{schema.GroupVersionKind{Group: "workload.matrixinfer.ai", Version: "v1alpha1", Kind: "ModelInfer"}, false, false},
	} {
		known, scalable, err := d.HasScale(ctx, tt.gvk)
		if err != nil || known != tt.wantKnown || scalable != tt.wantScal {
			t.Errorf("HasScale(%s) = %v, %v, %v; want %v, %v", tt.gvk, known, scalable, err, tt.wantKnown, tt.wantScal)
		}
	}
	if lister.calls != 2 {
		t.Errorf("%d discovery calls, want 2 (one per group version, then cached)", lister.calls)
	}
	clk.SetTime(clk.Now().Add(2 * time.Minute))
	if _, _, err := d.HasScale(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Service"}); err != nil || lister.calls != 3 {
		t.Errorf("after the TTL: %v, %d calls; want a fresh discovery", err, lister.calls)
	}
	lister.err = apierrors.NewNotFound(schema.GroupResource{}, "v1")
	clk.SetTime(clk.Now().Add(2 * time.Minute))
	if known, _, err := d.HasScale(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Service"}); err != nil || known {
		t.Errorf("group version gone: known %v, %v; want unknown", known, err)
	}
}

type fakeLister struct {
	lists map[string][]string
	calls int
	err   error
}

func (f *fakeLister) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	list := &metav1.APIResourceList{GroupVersion: gv}
	for _, r := range f.lists[gv] {
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: r})
	}
	return list, nil
}

func BenchmarkValidate(b *testing.B) {
	c := fake.NewClientBuilder().WithScheme(newScheme(b)).WithObjects(policyObj("other", "Deployment", "other"), hpa("h", "other")).Build()
	v := &Validator{Reader: c, Scales: scales{}, Access: allowAll()}
	req := request(b, admissionv1.Create, validPolicy, "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if resp := v.Handle(ctx, req); !resp.Allowed {
			b.Fatal(resp.Result.Message)
		}
	}
}

func FuzzValidate(f *testing.F) {
	raw, _ := yaml.YAMLToJSON([]byte(validPolicy))
	f.Add(raw, true)
	f.Add([]byte(`{"spec":{"targetRef":{"apiVersion":"a/b/c","kind":"","name":"x"},"metrics":[{"type":"Latency"}],"maxReplicas":-1}}`), false)
	f.Add([]byte(`{"spec":{"behavior":{"scaleDown":{"tolerance":"2","policies":[{"type":"Pods"}]}}}}`), true)
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	v := &Validator{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(policyObj("other", "Deployment", "llama")).Build(), Scales: scales{}, Access: allowAll()}
	f.Fuzz(func(t *testing.T, raw []byte, create bool) {
		op := admissionv1.Update
		if create {
			op = admissionv1.Create
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			Operation: op, Namespace: "ai", Object: runtime.RawExtension{Raw: raw}, OldObject: runtime.RawExtension{Raw: raw},
		}}
		resp := v.Handle(context.Background(), req)
		if !resp.Allowed && (resp.Result == nil || resp.Result.Message == "") {
			t.Fatalf("refused without a message: %+v", resp)
		}
		if resp.Allowed {
			var p v1alpha1.AutoscalingPolicy
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("admitted JSON that does not decode: %v", err)
			}
		}
	})
}
