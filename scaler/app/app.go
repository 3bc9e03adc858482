// Package app wires the scaler together: a controller-runtime manager with leader election,
// the report server on every replica, and the decision loop, leader label and store on the
// leader.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	custommetrics "k8s.io/metrics/pkg/client/custom_metrics"
	externalmetrics "k8s.io/metrics/pkg/client/external_metrics"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/certs"
	"github.com/inferscale/inferscale/internal/version"
	"github.com/inferscale/inferscale/scaler/attribution"
	"github.com/inferscale/inferscale/scaler/auth"
	"github.com/inferscale/inferscale/scaler/controller"
	"github.com/inferscale/inferscale/scaler/ingest"
	"github.com/inferscale/inferscale/scaler/window"
	"github.com/inferscale/inferscale/workload"
)

// Options are the scaler's flags.
type Options struct {
	ListenAddress    string
	MetricsAddress   string
	ProbeAddress     string
	TickInterval     time.Duration
	StatusInterval   time.Duration
	LeaderElection   bool
	LeaderElectionID string
	ReportRate       float64
	ReportBurst      int
	AttributionTTL   time.Duration
	APIQPS           float64
	APIBurst         int
	// ReviewQPS, ReviewBurst and ReviewConcurrency bound the TokenReviews of report tokens
	// with a client of their own, so that a flood of unknown tokens cannot use up the
	// budget of the /scale reads and writes; SourceRate and SourceBurst bound them per source.
	ReviewQPS         float64
	ReviewBurst       int
	ReviewConcurrency int
	SourceRate        float64
	SourceBurst       int
	// Concurrency is how many policies are decided at once.
	Concurrency int
	// CallTimeout bounds every API call of the decision loop, the metrics adapters, the
	// leader label and the certificate's Secret (not the informers' watches).
	CallTimeout time.Duration
	// MaxReplicasCeiling caps every policy's maxReplicas in the scaler's decisions.
	MaxReplicasCeiling int
	// ReportMemoryLimit bounds the bytes the report store holds (window.Store.SetMemoryLimit).
	ReportMemoryLimit resource.Quantity
	Certs             certs.Options
	// TrustBundle names the ClusterTrustBundle the report endpoint's trust bundle is
	// published in, for the agents; empty: none is published.
	TrustBundle string
}

// DefaultOptions are the defaults of the flags.
func DefaultOptions() Options {
	return Options{
		ListenAddress:      ":8443",
		MetricsAddress:     ":8080",
		ProbeAddress:       ":8081",
		TickInterval:       time.Second,
		StatusInterval:     15 * time.Second,
		LeaderElection:     true,
		LeaderElectionID:   "inferscale-scaler",
		ReportRate:         5,
		ReportBurst:        10,
		AttributionTTL:     15 * time.Second,
		APIQPS:             100,
		APIBurst:           200,
		ReviewQPS:          20,
		ReviewBurst:        40,
		ReviewConcurrency:  8,
		SourceRate:         20,
		SourceBurst:        40,
		Concurrency:        8,
		CallTimeout:        controller.DefaultCallTimeout,
		MaxReplicasCeiling: int(v1alpha1.DefaultMaxReplicasCeiling),
		ReportMemoryLimit:  *resource.NewQuantity(window.DefaultMemoryLimit, resource.BinarySI),
		Certs:              certs.ScalerOptions(),
		TrustBundle:        certs.ScalerTrustBundle,
	}
}

// BindFlags registers the flags on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.ListenAddress, "listen-address", o.ListenAddress, "HTTPS address of the report endpoint POST /v1/reports")
	fs.StringVar(&o.MetricsAddress, "metrics-bind-address", o.MetricsAddress, "address of the Prometheus /metrics endpoint; 0 disables it")
	fs.StringVar(&o.ProbeAddress, "health-probe-bind-address", o.ProbeAddress, "address of /healthz and /readyz")
	fs.DurationVar(&o.TickInterval, "tick-interval", o.TickInterval, "how often each policy is decided (each on its own, again this long after its last decision)")
	fs.IntVar(&o.Concurrency, "concurrent-policies", o.Concurrency, "how many policies are decided at once (the policy controller's MaxConcurrentReconciles)")
	fs.DurationVar(&o.StatusInterval, "status-interval", o.StatusInterval, "how often status is rewritten when only observed metric values changed")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "elect one replica to decide; turn off only for a single replica")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader election Lease")
	fs.Float64Var(&o.ReportRate, "report-rate", o.ReportRate, "reports per second allowed per pod")
	fs.IntVar(&o.ReportBurst, "report-burst", o.ReportBurst, "burst of reports allowed per pod")
	fs.DurationVar(&o.AttributionTTL, "attribution-ttl", o.AttributionTTL, "how long a pod's attribution to a target is remembered")
	fs.Float64Var(&o.APIQPS, "kube-api-qps", o.APIQPS, "queries per second to the API server (a /scale read per policy per tick)")
	fs.IntVar(&o.APIBurst, "kube-api-burst", o.APIBurst, "burst of queries to the API server")
	fs.Float64Var(&o.ReviewQPS, "token-review-qps", o.ReviewQPS, "TokenReviews per second of report tokens (a client of their own)")
	fs.IntVar(&o.ReviewBurst, "token-review-burst", o.ReviewBurst, "burst of TokenReviews of report tokens")
	fs.IntVar(&o.ReviewConcurrency, "token-review-concurrency", o.ReviewConcurrency, "TokenReviews in flight at most; more answer 503")
	fs.Float64Var(&o.SourceRate, "report-source-rate", o.SourceRate, "requests per second per source IP whose token needs a TokenReview")
	fs.IntVar(&o.SourceBurst, "report-source-burst", o.SourceBurst, "burst of such requests per source IP")
	fs.DurationVar(&o.CallTimeout, "api-call-timeout", o.CallTimeout, "timeout of each API call of a decision (/scale, metrics APIs, status, cache lists), of the leader label and of the certificate Secret")
	fs.Func("report-memory-limit", "bytes the report windows hold at most, as a quantity (default "+o.ReportMemoryLimit.String()+"); beyond it reports that need more memory are refused (503 memory_limit)", func(v string) error {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return err
		}
		o.ReportMemoryLimit = q
		return nil
	})
	fs.IntVar(&o.MaxReplicasCeiling, "max-replicas-ceiling", o.MaxReplicasCeiling, "largest replica count the scaler asks for, whatever a policy's maxReplicas says (the webhook's flag of the same name)")
	o.Certs.BindFlags(fs)
	fs.StringVar(&o.TrustBundle, "trust-bundle-name", o.TrustBundle, "ClusterTrustBundle that publishes the ca.crt of --cert-dir for the agents (in both cert modes); empty: none")
}

// RegisterMetrics registers the scaler's metrics with reg, where controller-runtime's own
// are: the ingest's, the controller's, the certificates' and inferscale_build_info.
func RegisterMetrics(reg prometheus.Registerer) (*ingest.Metrics, *controller.Metrics) {
	reg.MustRegister(version.NewCollector("inferscale-scaler"))
	reg.MustRegister(certs.Collectors()...)
	return ingest.NewMetrics(reg), controller.NewMetrics(reg)
}

// reviewTimeout bounds one TokenReview of a report token.
const reviewTimeout = 5 * time.Second

// Run runs the scaler until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	log := ctrl.Log.WithName("scaler")
	if o.MaxReplicasCeiling < 1 || o.MaxReplicasCeiling > math.MaxInt32 {
		return fmt.Errorf("--max-replicas-ceiling %d: want 1 to %d", o.MaxReplicasCeiling, math.MaxInt32)
	}
	if o.ReportMemoryLimit.Sign() <= 0 {
		return fmt.Errorf("--report-memory-limit %s: want a positive quantity", o.ReportMemoryLimit.String())
	}
	if o.CallTimeout <= 0 {
		return fmt.Errorf("--api-call-timeout %s: want a positive duration", o.CallTimeout)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.APIQPS), o.APIBurst
	namespace := o.Certs.Namespace
	if namespace == "" {
		namespace = certs.InstallNamespace()
	}
	podName := os.Getenv("POD_NAME")
	if o.LeaderElection && podName == "" {
		return errors.New("POD_NAME must name this pod (downward API) for the leader label")
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	// The cache holds every pod, ReplicaSet, Deployment and StatefulSet of the cluster: only
	// the fields the scaler reads are kept.
	cacheOpts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject:         map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: controller.TrimPod}},
	}
	workload.CacheOptions(&cacheOpts)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddress},
		HealthProbeBindAddress:        o.ProbeAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	directCfg := rest.CopyConfig(cfg)
	directCfg.Timeout = o.CallTimeout
	direct, err := client.New(directCfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}

	if o.Certs.SelfManaged() {
		cm, err := certs.NewManager(direct, o.Certs)
		if err != nil {
			return err
		}
		// The report server loads the files at start, so they must exist first.
		if err := ensureCerts(ctx, cm, log); err != nil {
			return err
		}
		if err := mgr.Add(cm); err != nil {
			return err
		}
	}
	if o.TrustBundle != "" {
		if err := mgr.Add(&certs.TrustBundlePublisher{
			Client: direct, Name: o.TrustBundle, File: certs.CABundleFile(o.Certs.CertDir),
			Interval: o.Certs.SyncInterval, Log: log.WithName("trust-bundle"),
		}); err != nil {
			return err
		}
	}

	reviewCfg := rest.CopyConfig(cfg)
	reviewCfg.QPS, reviewCfg.Burst, reviewCfg.Timeout = float32(o.ReviewQPS), o.ReviewBurst, reviewTimeout
	reviews, err := kubernetes.NewForConfig(reviewCfg)
	if err != nil {
		return fmt.Errorf("create TokenReview clientset: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create discovery client: %w", err)
	}
	cachedDisc := memory.NewMemCacheClient(disc)
	scaleKinds := &refreshingScaleKinds{
		resolver: scale.NewDiscoveryScaleKindResolver(cachedDisc), cache: cachedDisc,
		clock: clock.RealClock{}, minRefresh: 30 * time.Second,
	}
	scales, err := scale.NewForConfig(cfg, mgr.GetRESTMapper(), dynamic.LegacyAPIPathResolverFunc, scaleKinds)
	if err != nil {
		return fmt.Errorf("create scale client: %w", err)
	}
	usage, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create metrics.k8s.io client: %w", err)
	}
	// HPA's clients of the metrics adapters' APIs. They take no context, so a timeout bounds
	// what a slow adapter costs a tick; the custom API's preferred version is looked up again
	// every few minutes, as the kube-controller-manager does, in case an adapter changes.
	adapterCfg := rest.CopyConfig(cfg)
	adapterCfg.Timeout = o.CallTimeout
	customVersions := custommetrics.NewAvailableAPIsGetter(disc)
	go custommetrics.PeriodicallyInvalidate(customVersions, 5*time.Minute, ctx.Done())
	customMetrics := custommetrics.NewForConfig(adapterCfg, mgr.GetRESTMapper(), customVersions)
	externalMetrics, err := externalmetrics.NewForConfig(adapterCfg)
	if err != nil {
		return fmt.Errorf("create external.metrics.k8s.io client: %w", err)
	}

	clk := clock.RealClock{}
	store := window.NewStore(clk)
	store.SetMemoryLimit(o.ReportMemoryLimit.Value())
	for _, g := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "inferscale_scaler_report_memory_bytes", Help: "Bytes the report windows hold."},
			func() float64 { return float64(store.MemoryUsed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "inferscale_scaler_report_memory_limit_bytes", Help: "Bytes the report windows may hold (--report-memory-limit)."},
			func() float64 { return float64(store.MemoryLimit()) }),
	} {
		if err := ctrlmetrics.Registry.Register(g); err != nil {
			return fmt.Errorf("register report memory metrics: %w", err)
		}
	}
	resolver := attribution.New(mgr.GetClient(), clk, o.AttributionTTL)
	var leader atomic.Bool
	go func() {
		select {
		case <-mgr.Elected():
			leader.Store(true)
			log.Info("Elected leader; accepting reports")
		case <-ctx.Done():
		}
	}()

	ingestMetrics, controllerMetrics := RegisterMetrics(ctrlmetrics.Registry)
	handler := ingest.New(ingest.Options{
		Auth: auth.New(reviews.AuthenticationV1().TokenReviews(), clk, auth.Options{
			MaxConcurrentReviews: o.ReviewConcurrency, ReviewTimeout: reviewTimeout,
		}),
		Attributor:  resolver,
		Store:       store,
		IsLeader:    leader.Load,
		Clock:       clk,
		Metrics:     ingestMetrics,
		Log:         log.WithName("ingest"),
		Rate:        rate.Limit(o.ReportRate),
		Burst:       o.ReportBurst,
		SourceRate:  rate.Limit(o.SourceRate),
		SourceBurst: o.SourceBurst,
	})
	runnables := []manager.Runnable{
		&ingest.Server{Addr: o.ListenAddress, CertDir: o.Certs.CertDir, Handler: handler, Log: log.WithName("server")},
	}
	policies := controller.New(controller.Options{
		Client:             mgr.GetClient(),
		Mapper:             mgr.GetRESTMapper(),
		Scales:             scales,
		Usage:              usage.MetricsV1beta1(),
		CustomMetrics:      customMetrics,
		ExternalMetrics:    externalMetrics,
		Store:              store,
		Resolver:           resolver,
		Events:             mgr.GetEventRecorder("inferscale-scaler"),
		Metrics:            controllerMetrics,
		Clock:              clk,
		Log:                log.WithName("controller"),
		Interval:           o.TickInterval,
		StatusInterval:     o.StatusInterval,
		CallTimeout:        o.CallTimeout,
		MaxReplicasCeiling: int32(o.MaxReplicasCeiling),
		Concurrency:        o.Concurrency,
	})
	if err := policies.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up the policy controller: %w", err)
	}
	if o.LeaderElection {
		runnables = append(runnables, &controller.LeaderLabeler{Client: direct, Namespace: namespace, PodName: podName, Log: log.WithName("leader")})
	}
	for _, r := range runnables {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting", "listen", o.ListenAddress, "tick", o.TickInterval, "leaderElection", o.LeaderElection)
	return mgr.Start(ctx)
}

// ensureCerts creates or loads the serving certificate, retrying while the API server is not
// reachable yet.
func ensureCerts(ctx context.Context, cm *certs.Manager, log logr.Logger) error {
	for {
		err := cm.Ensure(ctx)
		if err == nil {
			return nil
		}
		log.Error(err, "Preparing the serving certificate failed; retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("serving certificate: %w", err)
		case <-time.After(2 * time.Second):
		}
	}
}
