package controller

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmv1beta2 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	emv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/decision"
)

// metricsCall is one request the stubs below received.
type metricsCall struct {
	root                          bool
	namespace, kind, name, metric string
	selector, metricSelector      string
}

// stubMetrics serves custom.metrics.k8s.io and external.metrics.k8s.io from fixed answers
// and records what was asked.
type stubMetrics struct {
	calls    []metricsCall
	podList  *cmv1beta2.MetricValueList
	object   *cmv1beta2.MetricValue
	external *emv1beta1.ExternalMetricValueList
	err      error
}

type stubScope struct {
	s         *stubMetrics
	root      bool
	namespace string
}

func (s *stubMetrics) RootScopedMetrics() custom_metrics.MetricsInterface {
	return stubScope{s: s, root: true}
}

func (s *stubMetrics) NamespacedMetrics(namespace string) custom_metrics.MetricsInterface {
	return stubScope{s: s, namespace: namespace}
}

func (sc stubScope) GetForObject(gk schema.GroupKind, name, metric string, metricSel labels.Selector) (*cmv1beta2.MetricValue, error) {
	sc.s.calls = append(sc.s.calls, metricsCall{root: sc.root, namespace: sc.namespace, kind: gk.String(), name: name, metric: metric, metricSelector: metricSel.String()})
	return sc.s.object, sc.s.err
}

func (sc stubScope) GetForObjects(gk schema.GroupKind, sel labels.Selector, metric string, metricSel labels.Selector) (*cmv1beta2.MetricValueList, error) {
	sc.s.calls = append(sc.s.calls, metricsCall{root: sc.root, namespace: sc.namespace, kind: gk.String(), metric: metric, selector: sel.String(), metricSelector: metricSel.String()})
	return sc.s.podList, sc.s.err
}

type stubExternal struct{ s *stubMetrics }

func (e stubExternal) NamespacedMetrics(namespace string) external_metrics.MetricsInterface {
	return stubExternalScope{s: e.s, namespace: namespace}
}

type stubExternalScope struct {
	s         *stubMetrics
	namespace string
}

func (sc stubExternalScope) List(metric string, metricSel labels.Selector) (*emv1beta1.ExternalMetricValueList, error) {
	sc.s.calls = append(sc.s.calls, metricsCall{namespace: sc.namespace, metric: metric, metricSelector: metricSel.String()})
	return sc.s.external, sc.s.err
}

func metricsAPIController(s *stubMetrics) *Controller {
	return New(Options{CustomMetrics: s, ExternalMetrics: stubExternal{s}, Metrics: NewMetrics(prometheus.NewRegistry())})
}

var (
	testPolicy  = types.NamespacedName{Namespace: "ns", Name: "p"}
	ts0         = metav1.NewTime(time.Unix(1_800_000_000, 0))
	queueSel    = &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "worker_tasks"}}
	averageOf30 = v1alpha1.MetricTarget{Type: v1alpha1.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("30"))}
)

func TestPodsMetricIsReadLikeHPA(t *testing.T) {
	s := &stubMetrics{podList: &cmv1beta2.MetricValueList{Items: []cmv1beta2.MetricValue{
		{DescribedObject: corev1.ObjectReference{Kind: "Pod", Name: "a"}, Timestamp: ts0, Value: resource.MustParse("1500m")},
		{DescribedObject: corev1.ObjectReference{Kind: "Pod", Name: "b"}, Timestamp: metav1.NewTime(ts0.Add(time.Second)), Value: resource.MustParse("2")},
	}}}
	spec := &v1alpha1.AutoscalingPolicySpec{Metrics: []v1alpha1.MetricSpec{
		{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("4")}},
		{Type: v1alpha1.PodsMetricType, Pods: &v1alpha1.PodsMetricSource{
			Metric: v1alpha1.MetricIdentifier{Name: "packets-per-second", Selector: queueSel}, Target: averageOf30}},
	}}
	got := metricsAPIController(s).metricsAPI(testPolicy, ns, labels.SelectorFromSet(labels.Set{"app": "llama"}), spec)
	if len(got) != 1 {
		t.Fatalf("want one entry, for the Pods metric alone, got %+v", got)
	}
	pods := got[decision.MetricsAPIKey(&spec.Metrics[1])]
	if pods.Err != nil {
		t.Fatal(pods.Err)
	}
	if len(pods.Pods) != 2 || pods.Pods["a"] != 1500 || pods.Pods["b"] != 2000 || !pods.Timestamp.Equal(ts0.Time) {
		t.Errorf("pods metric = %+v, want a 1500m, b 2000m at the first item's timestamp", pods)
	}
	want := metricsCall{namespace: ns, kind: "Pod", metric: "packets-per-second", selector: "app=llama", metricSelector: "queue=worker_tasks"}
	if len(s.calls) != 1 || s.calls[0] != want {
		t.Errorf("asked %+v, want %+v", s.calls, want)
	}
}

func TestObjectMetricStaysInThePolicysNamespace(t *testing.T) {
	s := &stubMetrics{object: &cmv1beta2.MetricValue{Timestamp: ts0, Value: resource.MustParse("12k")}}
	object := func(apiVersion, kind, name string) *v1alpha1.AutoscalingPolicySpec {
		return &v1alpha1.AutoscalingPolicySpec{Metrics: []v1alpha1.MetricSpec{{Type: v1alpha1.ObjectMetricType, Object: &v1alpha1.ObjectMetricSource{
			DescribedObject: v1alpha1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name},
			Metric:          v1alpha1.MetricIdentifier{Name: "requests-per-second"},
			Target:          v1alpha1.MetricTarget{Type: v1alpha1.ValueMetricType, Value: ptr.To(resource.MustParse("10k"))},
		}}}}
	}
	c := metricsAPIController(s)
	spec := object("networking.k8s.io/v1", "Ingress", "main-route")
	got := c.metricsAPI(testPolicy, ns, nil, spec)[decision.MetricsAPIKey(&spec.Metrics[0])]
	if got.Err != nil || got.Value != 12_000_000 {
		t.Fatalf("object metric = %+v, want 12k in milli-units", got)
	}
	// HPA's rule: a Namespace object is the policy's own namespace, whatever name is written.
	c.metricsAPI(testPolicy, ns, nil, object("v1", "Namespace", "kube-system"))
	want := []metricsCall{
		{namespace: ns, kind: "Ingress.networking.k8s.io", name: "main-route", metric: "requests-per-second"},
		{root: true, kind: "Namespace", name: ns, metric: "requests-per-second"},
	}
	if len(s.calls) != 2 || s.calls[0] != want[0] || s.calls[1] != want[1] {
		t.Errorf("asked %+v, want %+v", s.calls, want)
	}
}

func TestExternalMetricSumsItsSeries(t *testing.T) {
	m := v1alpha1.MetricSpec{Type: v1alpha1.ExternalMetricType, External: &v1alpha1.ExternalMetricSource{
		Metric: v1alpha1.MetricIdentifier{Name: "queue_messages_ready", Selector: queueSel}, Target: averageOf30,
	}}
	// Twice the same query: asked once.
	external := &v1alpha1.AutoscalingPolicySpec{Metrics: []v1alpha1.MetricSpec{m, m}}
	key := decision.MetricsAPIKey(&m)
	series := func(values ...string) *emv1beta1.ExternalMetricValueList {
		l := &emv1beta1.ExternalMetricValueList{}
		for i, v := range values {
			l.Items = append(l.Items, emv1beta1.ExternalMetricValue{MetricName: "queue_messages_ready", Timestamp: metav1.NewTime(ts0.Add(time.Duration(i) * time.Second)), Value: resource.MustParse(v)})
		}
		return l
	}
	s := &stubMetrics{external: series("30", "12500m")}
	c := metricsAPIController(s)
	got := c.metricsAPI(testPolicy, ns, nil, external)[key]
	if got.Err != nil || got.Value != 42_500 || !got.Timestamp.Equal(ts0.Time) {
		t.Fatalf("external metric = %+v, want the sum 42500m at the first series' timestamp", got)
	}
	if want := (metricsCall{namespace: ns, metric: "queue_messages_ready", metricSelector: "queue=worker_tasks"}); len(s.calls) != 1 || s.calls[0] != want {
		t.Errorf("asked %+v, want %+v", s.calls, want)
	}

	huge := resource.NewMilliQuantity(math.MaxInt64/2+1, resource.DecimalSI).String()
	s.external = series(huge, huge)
	if got := c.metricsAPI(testPolicy, ns, nil, external)[key]; got.Value != math.MaxInt64 {
		t.Errorf("sum past MaxInt64 = %d, want it saturated", got.Value)
	}

	s.external = series()
	if got := c.metricsAPI(testPolicy, ns, nil, external)[key]; got.Err == nil || !strings.Contains(got.Err.Error(), "no metrics returned from external metrics API") {
		t.Errorf("empty answer: err = %v", got.Err)
	}
	s.err = errors.New(`the server could not find the requested resource (get queue_messages_ready.external.metrics.k8s.io)`)
	got = c.metricsAPI(testPolicy, ns, nil, external)[key]
	if got.Err == nil || !strings.Contains(got.Err.Error(), "unable to get external metric "+ns+"/queue_messages_ready/queue=worker_tasks: unable to fetch metrics from external metrics API: the server could not find") {
		t.Errorf("failed request: err = %v", got.Err)
	}
	var counted dto.Metric
	if err := c.opts.Metrics.errors.WithLabelValues("ns", "p", "external_metrics").Write(&counted); err != nil {
		t.Fatal(err)
	}
	if n := counted.GetCounter().GetValue(); n != 2 {
		t.Errorf("external_metrics errors counted %v, want 2", n)
	}
}

func TestMetricsAPIWithoutClientsIsAnError(t *testing.T) {
	c := New(Options{Metrics: NewMetrics(prometheus.NewRegistry())})
	spec := &v1alpha1.AutoscalingPolicySpec{Metrics: []v1alpha1.MetricSpec{
		{Type: v1alpha1.PodsMetricType, Pods: &v1alpha1.PodsMetricSource{Metric: v1alpha1.MetricIdentifier{Name: "qps"}, Target: averageOf30}},
		{Type: v1alpha1.ExternalMetricType, External: &v1alpha1.ExternalMetricSource{Metric: v1alpha1.MetricIdentifier{Name: "qps"}, Target: averageOf30}},
	}}
	got := c.metricsAPI(testPolicy, ns, nil, spec)
	for i := range spec.Metrics {
		if got[decision.MetricsAPIKey(&spec.Metrics[i])].Err == nil {
			t.Errorf("metric %d: no error without a client", i)
		}
	}
}
