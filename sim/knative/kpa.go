// Package knative puts Knative Serving's autoscaler (knative.dev/serving v0.42.2) into the
// simulator: the KPA's own MetricCollector windows, its own scaling.autoscaler and the
// DeciderSpec and Metric its reconciler makes from a PodAutoscaler at the default
// config-autoscaler. It lives in a module of its own so that the product's go.mod never
// carries Knative's dependencies.
package knative

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/serving/pkg/apis/autoscaling"
	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	"knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"knative.dev/serving/pkg/autoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/scaling"
	kparesources "knative.dev/serving/pkg/reconciler/autoscaling/kpa/resources"
	aresources "knative.dev/serving/pkg/reconciler/autoscaling/resources"

	"github.com/inferscale/inferscale/sim"
)

// TickInterval is how often Knative's multiscaler asks the autoscaler for a scale.
const TickInterval = 2 * time.Second

// KPA is one revision's Knative autoscaler. Every second it records what Knative's scraper
// would have scraped from the Ready pods' queue-proxies (their average concurrency and
// request count over the second, summed), and every 2 s asks scaling.autoscaler.Scale; the
// PodAutoscaler reconciler's clamp to min and max scale follows.
type KPA struct {
	collector *metrics.MetricCollector
	scaler    scaling.UniScaler
	pods      *podCounter
	key       types.NamespacedName
	log       *zap.SugaredLogger

	minScale, maxScale int32
}

type podCounter struct{ ready int }

func (p *podCounter) ReadyCount() (int, error)    { return p.ready, nil }
func (p *podCounter) NotReadyCount() (int, error) { return 0, nil }

// New returns the KPA for a revision with containerConcurrency cc and the per-pod
// concurrency target (the autoscaling.knative.dev/target annotation; 0 leaves Knative's
// default), between minScale and maxScale, with Knative's defaults for everything else.
func New(cc int64, target float64, minScale, maxScale int32) (*KPA, error) {
	cfg, err := config.NewConfigFromMap(nil)
	if err != nil {
		return nil, fmt.Errorf("knative default config: %w", err)
	}
	pa := &autoscalingv1alpha1.PodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "sim", Name: "model-00001", Annotations: map[string]string{
			autoscaling.ClassAnnotationKey:  autoscaling.KPA,
			autoscaling.MetricAnnotationKey: autoscaling.Concurrency,
		}},
		Spec: autoscalingv1alpha1.PodAutoscalerSpec{ContainerConcurrency: cc, ProtocolType: "http1"},
	}
	if target > 0 {
		pa.Annotations[autoscaling.TargetAnnotationKey] = strconv.FormatFloat(target, 'f', -1, 64)
	}
	return newKPA(pa, cfg, minScale, maxScale)
}

func newKPA(pa *autoscalingv1alpha1.PodAutoscaler, cfg *autoscalerconfig.Config, minScale, maxScale int32) (*KPA, error) {
	log := zap.NewNop().Sugar()
	k := &KPA{
		pods: &podCounter{ready: 1}, key: types.NamespacedName{Namespace: pa.Namespace, Name: pa.Name}, log: log,
		minScale: minScale, maxScale: maxScale,
	}
	// No scraper: the simulator records the scrapes itself, at its own clock's seconds.
	k.collector = metrics.NewMetricCollector(func(*autoscalingv1alpha1.Metric, *zap.SugaredLogger) (metrics.StatsScraper, error) {
		return nil, nil
	}, log)
	if err := k.collector.CreateOrUpdate(aresources.MakeMetric(pa, "model-00001-private", cfg)); err != nil {
		return nil, fmt.Errorf("knative metric collection: %w", err)
	}
	d := kparesources.MakeDecider(pa, cfg)
	// scaling.New reads the ready count once: with more than one pod it starts in panic mode
	// at the wall clock's now, which a virtual clock would never leave. Runs start with one.
	k.scaler = scaling.New(t0Context(), pa.Namespace, pa.Name, k.collector, k.pods, &d.Spec)
	return k, nil
}

// Spec returns the DeciderSpec in use, for tests and reports.
func Spec(cc int64, target float64) (scaling.DeciderSpec, error) {
	cfg, err := config.NewConfigFromMap(nil)
	if err != nil {
		return scaling.DeciderSpec{}, err
	}
	pa := &autoscalingv1alpha1.PodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}},
		Spec: autoscalingv1alpha1.PodAutoscalerSpec{ContainerConcurrency: cc}}
	if target > 0 {
		pa.Annotations[autoscaling.TargetAnnotationKey] = strconv.FormatFloat(target, 'f', -1, 64)
	}
	return kparesources.MakeDecider(pa, cfg).Spec, nil
}

// Name implements sim.Autoscaler.
func (k *KPA) Name() string { return "kpa" }

// Interval implements sim.Autoscaler.
func (k *KPA) Interval() time.Duration { return TickInterval }

// Observe implements sim.Autoscaler: one scrape of every Ready pod's queue-proxy.
func (k *KPA) Observe(now time.Time, s *sim.Second) {
	var st metrics.Stat
	n := 0
	for i := range s.Pods {
		p := &s.Pods[i]
		if !p.Ready {
			continue
		}
		n++
		st.AverageConcurrentRequests += p.Report.InFlight.Average
		st.RequestCount += float64(p.Report.Requests.Total())
	}
	if n == 0 {
		return
	}
	st.PodName = "scraper"
	k.collector.Record(k.key, now, st)
}

// Decide implements sim.Autoscaler.
func (k *KPA) Decide(now time.Time, st *sim.State) int32 {
	ready := 0
	for _, p := range st.Pods {
		if p.Ready && !p.Terminating {
			ready++
		}
	}
	k.pods.ready = ready
	r := k.scaler.Scale(k.log, now)
	if !r.ScaleValid {
		return st.Replicas
	}
	want := r.DesiredPodCount
	return min(max(want, k.minScale), k.maxScale)
}

// Close stops the collector's collection.
func (k *KPA) Close() error {
	k.collector.Delete(k.key.Namespace, k.key.Name)
	return nil
}

// Factory is the kpa entry of `--compare`: containerConcurrency is the model's batch slots
// (what the server runs at once), the target the policy's QueueDepth when it has one.
func Factory() sim.Factory {
	return sim.Factory{Name: "kpa", New: func(sc *sim.Scenario) (sim.Autoscaler, error) {
		target := 0.0
		for _, m := range sc.Policy.Metrics {
			if m.QueueDepth != nil {
				target = m.QueueDepth.AverageValue.AsApproximateFloat64()
			}
		}
		if math.IsNaN(target) || target < 0 {
			return nil, errors.New("the policy's queue-depth target is not a number")
		}
		lo := int32(1)
		if sc.Policy.MinReplicas != nil {
			lo = *sc.Policy.MinReplicas
		}
		return New(int64(sc.Model.Slots), target, lo, sc.Policy.MaxReplicas)
	}}
}
