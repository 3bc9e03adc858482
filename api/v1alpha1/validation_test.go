package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
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
			{Type: PodsMetricType, Pods: &PodsMetricSource{
				Metric: MetricIdentifier{Name: "packets-per-second"},
				Target: MetricTarget{Type: AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("1k"))},
			}},
			{Type: ObjectMetricType, Object: &ObjectMetricSource{
				DescribedObject: CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "main-route"},
				Metric:          MetricIdentifier{Name: "requests-per-second"},
				Target:          MetricTarget{Type: ValueMetricType, Value: ptr.To(resource.MustParse("10k"))},
			}},
			{Type: ExternalMetricType, External: &ExternalMetricSource{
				Metric: MetricIdentifier{Name: "queue_messages_ready", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "worker_tasks"}}},
				Target: MetricTarget{Type: AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("30"))},
			}},
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

func TestValidateSpecAcceptsEveryGPUMetric(t *testing.T) {
	for _, m := range GPUMetrics {
		s := validSpec()
		s.Metrics[4].GPU.Metric = m
		if errs := ValidateSpec(&s, field.NewPath("spec")); len(errs) > 0 {
			t.Errorf("%s refused: %v", m, errs)
		}
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
		{"unknown metric type", func(s *AutoscalingPolicySpec) { s.Metrics[0].Type = "ContainerResource" }, "spec.metrics[0].type", field.ErrorTypeNotSupported},
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
		{"latency of first byte and per output token at once", func(s *AutoscalingPolicySpec) {
			s.Metrics[0].Latency.TimeToFirstByte, s.Metrics[0].Latency.TimePerOutputToken = true, true
		}, "spec.metrics[0].latency.timePerOutputToken", field.ErrorTypeInvalid},
		{"queue depth zero", func(s *AutoscalingPolicySpec) { s.Metrics[1].QueueDepth.AverageValue = resource.MustParse("0") }, "spec.metrics[1].queueDepth.averageValue", field.ErrorTypeInvalid},
		{"request rate negative", func(s *AutoscalingPolicySpec) { s.Metrics[2].RequestRate.AverageValue = resource.MustParse("-3") }, "spec.metrics[2].requestRate.averageValue", field.ErrorTypeInvalid},
		{"model metric without name", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.Name = "" }, "spec.metrics[3].modelMetric.name", field.ErrorTypeRequired},
		{"model metric bad name", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.Name = "queue size" }, "spec.metrics[3].modelMetric.name", field.ErrorTypeInvalid},
		{"model metric zero target", func(s *AutoscalingPolicySpec) { s.Metrics[3].ModelMetric.AverageValue = resource.Quantity{} }, "spec.metrics[3].modelMetric.averageValue", field.ErrorTypeInvalid},
		{"gpu utilization 0", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.AverageUtilization = 0 }, "spec.metrics[4].gpu.averageUtilization", field.ErrorTypeInvalid},
		{"gpu utilization 101", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.AverageUtilization = 101 }, "spec.metrics[4].gpu.averageUtilization", field.ErrorTypeInvalid},
		{"gpu unknown metric", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.Metric = "temperature" }, "spec.metrics[4].gpu.metric", field.ErrorTypeNotSupported},
		{"gpu metric in the wrong case", func(s *AutoscalingPolicySpec) { s.Metrics[4].GPU.Metric = "SMActivity" }, "spec.metrics[4].gpu.metric", field.ErrorTypeNotSupported},
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
		{"no target at all", func(s *AutoscalingPolicySpec) { s.TargetRef = CrossVersionObjectReference{} }, "spec.targetRef", field.ErrorTypeRequired},
		{"scaleTargetRef alone, invalid", func(s *AutoscalingPolicySpec) {
			s.ScaleTargetRef, s.TargetRef = s.TargetRef, CrossVersionObjectReference{}
			s.ScaleTargetRef.Name = "Llama_7B"
		}, "spec.scaleTargetRef.name", field.ErrorTypeInvalid},
		{"targetRef and scaleTargetRef differ", func(s *AutoscalingPolicySpec) {
			s.ScaleTargetRef = s.TargetRef
			s.ScaleTargetRef.Name = "mistral"
		}, "spec.scaleTargetRef", field.ErrorTypeInvalid},
		{"pods metric without name", func(s *AutoscalingPolicySpec) { s.Metrics[6].Pods.Metric.Name = "" }, "spec.metrics[6].pods.metric.name", field.ErrorTypeRequired},
		{"pods metric name not a path segment", func(s *AutoscalingPolicySpec) { s.Metrics[6].Pods.Metric.Name = "a/b" }, "spec.metrics[6].pods.metric.name", field.ErrorTypeInvalid},
		{"pods metric without averageValue", func(s *AutoscalingPolicySpec) {
			s.Metrics[6].Pods.Target = MetricTarget{Type: ValueMetricType, Value: ptr.To(resource.MustParse("1"))}
		}, "spec.metrics[6].pods.target.averageValue", field.ErrorTypeRequired},
		{"pods metric averageValue zero", func(s *AutoscalingPolicySpec) {
			s.Metrics[6].Pods.Target.AverageValue = ptr.To(resource.MustParse("0"))
		}, "spec.metrics[6].pods.target.averageValue", field.ErrorTypeInvalid},
		{"pods metric unknown target type", func(s *AutoscalingPolicySpec) { s.Metrics[6].Pods.Target.Type = "Median" }, "spec.metrics[6].pods.target.type", field.ErrorTypeNotSupported},
		{"pods metric without target type", func(s *AutoscalingPolicySpec) { s.Metrics[6].Pods.Target.Type = "" }, "spec.metrics[6].pods.target.type", field.ErrorTypeRequired},
		{"pods metric bad selector", func(s *AutoscalingPolicySpec) {
			s.Metrics[6].Pods.Metric.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"not a key": "x"}}
		}, "spec.metrics[6].pods.metric.selector.matchLabels", field.ErrorTypeInvalid},
		{"object without describedObject name", func(s *AutoscalingPolicySpec) { s.Metrics[7].Object.DescribedObject.Name = "" }, "spec.metrics[7].object.describedObject.name", field.ErrorTypeRequired},
		{"object without target value", func(s *AutoscalingPolicySpec) { s.Metrics[7].Object.Target.Value = nil }, "spec.metrics[7].object.target.averageValue", field.ErrorTypeRequired},
		{"object Value type with only averageValue", func(s *AutoscalingPolicySpec) {
			s.Metrics[7].Object.Target = MetricTarget{Type: ValueMetricType, AverageValue: ptr.To(resource.MustParse("1"))}
		}, "spec.metrics[7].object.target.value", field.ErrorTypeRequired},
		{"object Utilization target", func(s *AutoscalingPolicySpec) { s.Metrics[7].Object.Target.Type = UtilizationMetricType }, "spec.metrics[7].object.target.type", field.ErrorTypeNotSupported},
		{"object metric name too long", func(s *AutoscalingPolicySpec) { s.Metrics[7].Object.Metric.Name = strings.Repeat("a", 254) }, "spec.metrics[7].object.metric.name", field.ErrorTypeTooLong},
		{"external without target", func(s *AutoscalingPolicySpec) { s.Metrics[8].External.Target.AverageValue = nil }, "spec.metrics[8].external.target.averageValue", field.ErrorTypeRequired},
		{"external with value and averageValue", func(s *AutoscalingPolicySpec) { s.Metrics[8].External.Target.Value = ptr.To(resource.MustParse("1")) }, "spec.metrics[8].external.target.value", field.ErrorTypeForbidden},
		{"external value negative", func(s *AutoscalingPolicySpec) {
			s.Metrics[8].External.Target = MetricTarget{Type: ValueMetricType, Value: ptr.To(resource.MustParse("-1"))}
		}, "spec.metrics[8].external.target.value", field.ErrorTypeInvalid},
		{"external bad selector operator", func(s *AutoscalingPolicySpec) {
			s.Metrics[8].External.Metric.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "queue", Operator: "Near"}}}
		}, "spec.metrics[8].external.metric.selector.matchExpressions[0].operator", field.ErrorTypeInvalid},
		{"pods block on an External metric", func(s *AutoscalingPolicySpec) { s.Metrics[8].Pods = s.Metrics[6].Pods }, "spec.metrics[8].pods", field.ErrorTypeForbidden},
		{"stable window too long", func(s *AutoscalingPolicySpec) { s.StableWindowSeconds = ptr.To[int32](601) }, "spec.stableWindowSeconds", field.ErrorTypeInvalid},
		{"scale-down hold of no start time", func(s *AutoscalingPolicySpec) { s.ScaleDownHold = &ScaleDownHold{} }, "spec.scaleDownHold.startDelays", field.ErrorTypeInvalid},
		{"scale-down hold too long", func(s *AutoscalingPolicySpec) { s.ScaleDownHold = &ScaleDownHold{StartDelays: 101} }, "spec.scaleDownHold.startDelays", field.ErrorTypeInvalid},
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

// TestScaleTargetRefIsTargetRef: HPA's name of the field works alone, or beside targetRef
// when both say the same, and the policy reads the same target either way.
func TestScaleTargetRefIsTargetRef(t *testing.T) {
	ref := validSpec().TargetRef
	for name, mutate := range map[string]func(s *AutoscalingPolicySpec){
		"targetRef": func(s *AutoscalingPolicySpec) {},
		"scaleTargetRef": func(s *AutoscalingPolicySpec) {
			s.ScaleTargetRef, s.TargetRef = s.TargetRef, CrossVersionObjectReference{}
		},
		"both alike": func(s *AutoscalingPolicySpec) { s.ScaleTargetRef = s.TargetRef },
	} {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			mutate(&s)
			if errs := ValidateSpec(&s, field.NewPath("spec")); len(errs) > 0 {
				t.Fatalf("refused: %v", errs)
			}
			if got := s.Target(); got != ref {
				t.Fatalf("Target() = %+v, want %+v", got, ref)
			}
		})
	}
}

// TestScaleTargetRefRoundTrips: a policy keeps the name its author used, so a re-apply or a
// GitOps diff sees no change and no field the author did not write.
func TestScaleTargetRefRoundTrips(t *testing.T) {
	in := []byte(`{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"llama"},"maxReplicas":3,` +
		`"metrics":[{"type":"External","external":{"metric":{"name":"queue"},"target":{"type":"Value","value":"10"}}}]}`)
	var s AutoscalingPolicySpec
	if err := yaml.UnmarshalStrict(in, &s); err != nil {
		t.Fatal(err)
	}
	if s.Target().Name != "llama" || s.TargetField() != "scaleTargetRef" {
		t.Fatalf("Target() = %+v from %s", s.Target(), s.TargetField())
	}
	out, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(in) {
		t.Fatalf("round trip changed the policy:\n in: %s\nout: %s", in, out)
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

// TestWarningsOnTargetTypeAtOddsWithItsField: HPA reads Pods and External targets by the
// field that is set; a type saying otherwise is valid but told.
func TestWarningsOnTargetTypeAtOddsWithItsField(t *testing.T) {
	s := validSpec()
	s.Metrics[6].Pods.Target.Type = ValueMetricType
	s.Metrics[8].External.Target.Type = ValueMetricType
	if errs := ValidateSpec(&s, field.NewPath("spec")); len(errs) > 0 {
		t.Fatalf("HPA accepts these, so must we: %v", errs)
	}
	w := Warnings(&s)
	if len(w) != 2 || !strings.Contains(w[0], "spec.metrics[6].pods.target.type is Value") ||
		!strings.Contains(w[1], "spec.metrics[8].external.target.type is Value but only averageValue is set") {
		t.Fatalf("want a warning for each, got %q", w)
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

// TestHPAWorksByChangingAPIVersionAndKind: a real autoscaling/v2 HPA (decoded strictly as
// one first) becomes a valid policy by changing only its apiVersion and kind, and reads as
// the same spec.
func TestHPAWorksByChangingAPIVersionAndKind(t *testing.T) {
	data, err := os.ReadFile("testdata/hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := yaml.UnmarshalStrict(data, &hpa); err != nil {
		t.Fatalf("testdata/hpa.yaml is not an autoscaling/v2 HPA: %v", err)
	}
	p, err := policyFromHPA(data)
	if err != nil {
		t.Fatal(err)
	}
	if errs := ValidateAutoscalingPolicy(p); len(errs) > 0 {
		t.Fatalf("the converted HPA is refused: %v", errs.ToAggregate())
	}
	if w := Warnings(&p.Spec); len(w) > 0 {
		t.Errorf("unexpected warnings: %q", w)
	}
	if got, want := p.Spec.Target(), hpa.Spec.ScaleTargetRef; got.APIVersion != want.APIVersion || got.Kind != want.Kind || got.Name != want.Name {
		t.Errorf("target %+v, want the HPA's %+v", got, want)
	}
	if len(p.Spec.Metrics) != len(hpa.Spec.Metrics) {
		t.Fatalf("%d metrics, want the HPA's %d", len(p.Spec.Metrics), len(hpa.Spec.Metrics))
	}
	for i, hm := range hpa.Spec.Metrics {
		if got := string(p.Spec.Metrics[i].Type); got != string(hm.Type) {
			t.Errorf("metrics[%d].type = %s, want %s", i, got, hm.Type)
		}
	}
	// Field for field: the policy's JSON is the HPA spec's JSON.
	hj, _ := json.Marshal(hpa.Spec)
	pj, _ := json.Marshal(p.Spec)
	var hm, pm map[string]any
	_ = json.Unmarshal(hj, &hm)
	_ = json.Unmarshal(pj, &pm)
	if !reflect.DeepEqual(hm, pm) {
		t.Errorf("the policy's spec differs from the HPA's:\n HPA: %s\npolicy: %s", hj, pj)
	}
}

// policyFromHPA changes an HPA manifest's apiVersion and kind, and nothing else, and decodes
// it strictly as a policy.
func policyFromHPA(data []byte) (*AutoscalingPolicy, error) {
	data = bytes.Replace(data, []byte("\napiVersion: autoscaling/v2\n"), []byte("\napiVersion: inferscale.io/v1alpha1\n"), 1)
	data = bytes.Replace(data, []byte("\nkind: HorizontalPodAutoscaler\n"), []byte("\nkind: AutoscalingPolicy\n"), 1)
	var p AutoscalingPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, err
	}
	if p.APIVersion != GroupVersion.String() || p.Kind != "AutoscalingPolicy" {
		return nil, fmt.Errorf("apiVersion %q kind %q after the change", p.APIVersion, p.Kind)
	}
	return &p, nil
}
