package v1alpha1

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// validSpec is a policy that uses every metric type, so each case below
// breaks exactly one thing.
func validSpec() AutoscalingPolicySpec {
	return AutoscalingPolicySpec{
		TargetRef:   CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
		MinReplicas: ptr.To[int32](1),
		MaxReplicas: 10,
		Metrics: []MetricSpec{
			{Type: LatencyMetricType, Latency: &LatencyMetricSource{Percentile: 99, Target: metav1.Duration{Duration: 500 * time.Millisecond}}},
			{Type: QueueDepthMetricType, QueueDepth: &AverageValueMetricSource{AverageValue: resource.MustParse("4")}},
			{Type: RequestRateMetricType, RequestRate: &AverageValueMetricSource{AverageValue: resource.MustParse("20")}},
			{Type: ModelMetricType, ModelMetric: &ModelMetricSource{Name: "vllm:num_requests_waiting", AverageValue: resource.MustParse("5")}},
			{Type: GPUMetricType, GPU: &GPUMetricSource{Metric: GPUUtilization, AverageUtilization: 80}},
			{Type: ResourceMetricType, Resource: &ResourceMetricSource{Name: "cpu", Target: MetricTarget{Type: UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}},
		},
		Behavior: &Behavior{
			ScaleUp:   &ScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), SelectPolicy: ptr.To(MaxChangePolicySelect), Policies: []ScalingPolicy{{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
			ScaleDown: &ScalingRules{StabilizationWindowSeconds: ptr.To[int32](300), Policies: []ScalingPolicy{{Type: PercentScalingPolicy, Value: 10, PeriodSeconds: 60}}, Tolerance: ptr.To(resource.MustParse("0.05"))},
		},
		Burst: &BurstSpec{Threshold: ptr.To[int32](200), WindowSeconds: ptr.To[int32](6)},
	}
}

func TestValidateSpecAcceptsEveryMetricType(t *testing.T) {
	s := validSpec()
	if errs := ValidateSpec(&s, field.NewPath("spec")); len(errs) > 0 {
		t.Fatalf("valid spec refused: %v", errs)
	}
}

func TestValidateSpecRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *AutoscalingPolicySpec)
		path   string
		typ    field.ErrorType
	}{
		{"max below 1", func(s *AutoscalingPolicySpec) { s.MaxReplicas = 0; s.MinReplicas = nil }, "spec.maxReplicas", field.ErrorTypeInvalid},
		{"min above max", func(s *AutoscalingPolicySpec) { s.MinReplicas = ptr.To[int32](11) }, "spec.minReplicas", field.ErrorTypeInvalid},
		{"min zero: scale to zero", func(s *AutoscalingPolicySpec) { s.MinReplicas = ptr.To[int32](0) }, "spec.minReplicas", field.ErrorTypeInvalid},
		{"min negative", func(s *AutoscalingPolicySpec) { s.MinReplicas = ptr.To[int32](-1) }, "spec.minReplicas", field.ErrorTypeInvalid},
		{"no metrics", func(s *AutoscalingPolicySpec) { s.Metrics = nil }, "spec.metrics", field.ErrorTypeRequired},
		{"unknown metric type", func(s *AutoscalingPolicySpec) { s.Metrics[0].Type = "Pods" }, "spec.metrics[0].type", field.ErrorTypeNotSupported},
		{"block missing for type", func(s *AutoscalingPolicySpec) { s.Metrics[1].QueueDepth = nil }, "spec.metrics[1].queueDepth", field.ErrorTypeRequired},
		{"block of another type", func(s *AutoscalingPolicySpec) { s.Metrics[0].GPU = &GPUMetricSource{AverageUtilization: 50} }, "spec.metrics[0].gpu", field.ErrorTypeForbidden},
		{"two blocks", func(s *AutoscalingPolicySpec) {
			s.Metrics[2].QueueDepth = &AverageValueMetricSource{AverageValue: resource.MustParse("1")}
		}, "spec.metrics[2].queueDepth", field.ErrorTypeForbidden},
		{"percentile zero", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Percentile = 0 }, "spec.metrics[0].latency.percentile", field.ErrorTypeInvalid},
		{"percentile 100", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Percentile = 100 }, "spec.metrics[0].latency.percentile", field.ErrorTypeInvalid},
		{"percentile negative", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Percentile = -5 }, "spec.metrics[0].latency.percentile", field.ErrorTypeInvalid},
		{"latency target zero", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Target.Duration = 0 }, "spec.metrics[0].latency.target", field.ErrorTypeInvalid},
		{"latency target negative", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Target.Duration = -time.Second }, "spec.metrics[0].latency.target", field.ErrorTypeInvalid},
		{"latency target below 1ms", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.Target.Duration = time.Microsecond }, "spec.metrics[0].latency.target", field.ErrorTypeInvalid},
		{"latency minRequests zero", func(s *AutoscalingPolicySpec) { s.Metrics[0].Latency.MinRequests = ptr.To[int32](0) }, "spec.metrics[0].latency.minRequests", field.ErrorTypeInvalid},
		{"queue depth zero", func(s *AutoscalingPolicySpec) { s.Metrics[1].QueueDepth.AverageValue = resource.MustParse("0") }, "spec.metrics[1].queueDepth.averageValue", field.ErrorTypeInvalid},
		{"request rate negative", func(s *AutoscalingPolicySpec) { s.Metrics[2].RequestRate.AverageValue = resource.MustParse("-3") }, "spec.metrics[2].requestRate.averageValue", field.ErrorTypeInvalid},
		{"model metric without name", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.Name = "" }, "spec.metrics[3].modelMetric.name", field.ErrorTypeRequired},
		{"model metric bad name", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.Name = "queue size" }, "spec.metrics[3].modelMetric.name", field.ErrorTypeInvalid},
		{"model metric zero target", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.AverageValue = resource.Quantity{} }, "spec.metrics[3].modelMetric.averageValue", field.ErrorTypeInvalid},
		{"gpu utilization 0", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.AverageUtilization = 0 }, "spec.metrics[4].gpu.averageUtilization", field.ErrorTypeInvalid},
		{"gpu utilization 101", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.AverageUtilization = 101 }, "spec.metrics[4].gpu.averageUtilization", field.ErrorTypeInvalid},
		{"gpu unknown metric", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.Metric = "temperature" }, "spec.metrics[4].gpu.metric", field.ErrorTypeNotSupported},
		{"unknown resource", func(s *AutoscalingPolicySpec) { s.Metrics[5].Resource.Name = "ephemeral-storage" }, "spec.metrics[5].resource.name", field.ErrorTypeNotSupported},
		{"resource utilization missing", func(s *AutoscalingPolicySpec) { s.Metrics[5].Resource.Target.AverageUtilization = nil }, "spec.metrics[5].resource.target.averageUtilization", field.ErrorTypeRequired},
		{"resource utilization zero", func(s *AutoscalingPolicySpec) { s.Metrics[5].Resource.Target.AverageUtilization = ptr.To[int32](0) }, "spec.metrics[5].resource.target.averageUtilization", field.ErrorTypeInvalid},
		{"resource unknown target type", func(s *AutoscalingPolicySpec) { s.Metrics[5].Resource.Target.Type = "Median" }, "spec.metrics[5].resource.target.type", field.ErrorTypeNotSupported},
		{"resource averageValue missing", func(s *AutoscalingPolicySpec) { s.Metrics[5].Resource.Target.Type = AverageValueMetricType }, "spec.metrics[5].resource.target.averageValue", field.ErrorTypeRequired},
		{"resource value non-positive", func(s *AutoscalingPolicySpec) {
			s.Metrics[5].Resource.Target = MetricTarget{Type: ValueMetricType, Value: ptr.To(resource.MustParse("0"))}
		}, "spec.metrics[5].resource.target.value", field.ErrorTypeInvalid},
		{"gpu resource over 100", func(s *AutoscalingPolicySpec) {
			s.Metrics[5].Resource = &ResourceMetricSource{Name: GPUResourceName, Target: MetricTarget{Type: UtilizationMetricType, AverageUtilization: ptr.To[int32](150)}}
		}, "spec.metrics[5].resource.target.averageUtilization", field.ErrorTypeInvalid},
		{"policy unknown type", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleUp.Policies[0].Type = "Replicas" }, "spec.behavior.scaleUp.policies[0].type", field.ErrorTypeNotSupported},
		{"policy value zero", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleDown.Policies[0].Value = 0 }, "spec.behavior.scaleDown.policies[0].value", field.ErrorTypeInvalid},
		{"policy period zero", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleUp.Policies[0].PeriodSeconds = 0 }, "spec.behavior.scaleUp.policies[0].periodSeconds", field.ErrorTypeInvalid},
		{"policy period over 1800", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleDown.Policies[0].PeriodSeconds = 1801 }, "spec.behavior.scaleDown.policies[0].periodSeconds", field.ErrorTypeInvalid},
		{"stabilization negative", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleUp.StabilizationWindowSeconds = ptr.To[int32](-1) }, "spec.behavior.scaleUp.stabilizationWindowSeconds", field.ErrorTypeInvalid},
		{"stabilization over 3600", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleDown.StabilizationWindowSeconds = ptr.To[int32](3601) }, "spec.behavior.scaleDown.stabilizationWindowSeconds", field.ErrorTypeInvalid},
		{"unknown selectPolicy", func(s *AutoscalingPolicySpec) {
			s.Behavior.ScaleUp.SelectPolicy = ptr.To[ScalingPolicySelect]("Average")
		}, "spec.behavior.scaleUp.selectPolicy", field.ErrorTypeNotSupported},
		{"tolerance 1", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleDown.Tolerance = ptr.To(resource.MustParse("1")) }, "spec.behavior.scaleDown.tolerance", field.ErrorTypeInvalid},
		{"tolerance negative", func(s *AutoscalingPolicySpec) { s.Behavior.ScaleUp.Tolerance = ptr.To(resource.MustParse("-0.1")) }, "spec.behavior.scaleUp.tolerance", field.ErrorTypeInvalid},
		{"targetRef without apiVersion", func(s *AutoscalingPolicySpec) { s.TargetRef.APIVersion = "" }, "spec.targetRef.apiVersion", field.ErrorTypeRequired},
		{"targetRef bad apiVersion", func(s *AutoscalingPolicySpec) { s.TargetRef.APIVersion = "apps/v1/extra" }, "spec.targetRef.apiVersion", field.ErrorTypeInvalid},
		{"targetRef without kind", func(s *AutoscalingPolicySpec) { s.TargetRef.Kind = "" }, "spec.targetRef.kind", field.ErrorTypeRequired},
		{"targetRef without name", func(s *AutoscalingPolicySpec) { s.TargetRef.Name = "" }, "spec.targetRef.name", field.ErrorTypeRequired},
		{"targetRef bad name", func(s *AutoscalingPolicySpec) { s.TargetRef.Name = "Llama_7B" }, "spec.targetRef.name", field.ErrorTypeInvalid},
		{"stable window too long", func(s *AutoscalingPolicySpec) { s.StableWindowSeconds = ptr.To[int32](601) }, "spec.stableWindowSeconds", field.ErrorTypeInvalid},
		{"burst threshold too low", func(s *AutoscalingPolicySpec) { s.Burst.Threshold = ptr.To[int32](100) }, "spec.burst.threshold", field.ErrorTypeInvalid},
		{"burst window not shorter than stable", func(s *AutoscalingPolicySpec) {
			s.StableWindowSeconds = ptr.To[int32](30)
			s.Burst.WindowSeconds = ptr.To[int32](30)
		}, "spec.burst.windowSeconds", field.ErrorTypeInvalid},
		{"burst window zero", func(s *AutoscalingPolicySpec) { s.Burst.WindowSeconds = ptr.To[int32](0) }, "spec.burst.windowSeconds", field.ErrorTypeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.mutate(&s)
			errs := ValidateSpec(&s, field.NewPath("spec"))
			if len(errs) != 1 {
				t.Fatalf("want exactly one error at %s, got %d: %v", tc.path, len(errs), errs)
			}
			if errs[0].Field != tc.path || errs[0].Type != tc.typ {
				t.Fatalf("want %s at %s, got %s at %s: %v", tc.typ, tc.path, errs[0].Type, errs[0].Field, errs[0])
			}
		})
	}
}

func TestValidateSpecReportsEveryErrorAtOnce(t *testing.T) {
	s := validSpec()
	s.MaxReplicas = 0
	s.Metrics[0].Latency.Percentile = 100
	s.Behavior.ScaleUp.Policies[0].PeriodSeconds = 0
	errs := ValidateSpec(&s, field.NewPath("spec"))
	got := map[string]bool{}
	for _, e := range errs {
		got[e.Field] = true
	}
	for _, want := range []string{"spec.maxReplicas", "spec.metrics[0].latency.percentile", "spec.behavior.scaleUp.policies[0].periodSeconds"} {
		if !got[want] {
			t.Errorf("missing error at %s in %v", want, errs)
		}
	}
}

func TestMismatchedBlockNamesBothFields(t *testing.T) {
	s := validSpec()
	s.Metrics[2] = MetricSpec{Type: RequestRateMetricType, QueueDepth: &AverageValueMetricSource{AverageValue: resource.MustParse("1")}}
	errs := ValidateSpec(&s, field.NewPath("spec"))
	want := field.ErrorList{
		field.Required(field.NewPath("spec", "metrics").Index(2).Child("requestRate"), ""),
		field.Forbidden(field.NewPath("spec", "metrics").Index(2).Child("queueDepth"), ""),
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got %v", len(want), errs)
	}
	for i := range want {
		if errs[i].Field != want[i].Field || errs[i].Type != want[i].Type {
			t.Errorf("error %d: want %s at %s, got %v", i, want[i].Type, want[i].Field, errs[i])
		}
	}
}

func TestScaleToZeroMessageSaysWhy(t *testing.T) {
	s := validSpec()
	s.MinReplicas = ptr.To[int32](0)
	errs := ValidateSpec(&s, field.NewPath("spec"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "scale to zero is not supported") {
		t.Fatalf("want the scale-to-zero explanation, got %v", errs)
	}
}

// TestSamplesValidate proves the samples users copy, the MatrixInfer policies
// among them, are valid as they stand, decoded strictly so an unknown field
// in a sample fails too.
func TestSamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../manifests/samples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	workloads, err := filepath.Glob("../../manifests/samples/workloads/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, workloads...)
	seen := map[MetricType]bool{}
	policies := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if meta.Kind != "AutoscalingPolicy" {
				continue
			}
			var p AutoscalingPolicy
			if err := yaml.UnmarshalStrict(doc, &p); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if p.APIVersion != GroupVersion.String() {
				t.Errorf("%s: apiVersion %q, want %q", f, p.APIVersion, GroupVersion)
			}
			if errs := ValidateAutoscalingPolicy(&p); len(errs) > 0 {
				t.Errorf("%s: %v", f, errs.ToAggregate())
			}
			for _, m := range p.Spec.Metrics {
				seen[m.Type] = true
			}
			policies++
		}
	}
	if policies < 9 {
		t.Fatalf("read %d policies from the samples, want the 3 MatrixInfer ones and one per metric type", policies)
	}
	for _, typ := range metricTypes {
		if !seen[typ] {
			t.Errorf("no sample uses metric type %s", typ)
		}
	}
}

func TestWarnings(t *testing.T) {
	s := validSpec()
	if w := Warnings(&s); len(w) != 0 {
		t.Fatalf("want no warnings, got %v", w)
	}
	s.Behavior.ScaleDown.StabilizationWindowSeconds = ptr.To[int32](30)
	s.MinReplicas = ptr.To[int32](10)
	w := Warnings(&s)
	if len(w) != 2 || !strings.Contains(w[0], "scaleDown.stabilizationWindowSeconds") || !strings.Contains(w[1], "never change") {
		t.Fatalf("want the short-window and min==max warnings, got %v", w)
	}
}

func FuzzValidateSpec(f *testing.F) {
	f.Add([]byte(`{"targetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"a"},"maxReplicas":3,"metrics":[{"type":"Latency","latency":{"percentile":99,"target":"1s"}}]}`))
	f.Add([]byte(`{"metrics":[{"type":"Resource","resource":{"name":"nvidia.com/gpu","target":{"type":"Value"}}}],"behavior":{"scaleUp":{"tolerance":"2"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s AutoscalingPolicySpec
		if err := yaml.Unmarshal(data, &s); err != nil {
			return
		}
		_ = ValidateSpec(&s, field.NewPath("spec"))
		_ = Warnings(&s)
		_ = s.Defaulted()
	})
}

func BenchmarkValidateSpec(b *testing.B) {
	s := validSpec()
	path := field.NewPath("spec")
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidateSpec(&s, path); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
