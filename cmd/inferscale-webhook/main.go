// Command inferscale-webhook serves the admission webhooks: AutoscalingPolicy
// validation and agent sidecar injection. See webhook/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/certs"
	"github.com/inferscale/inferscale/internal/logging"
	"github.com/inferscale/inferscale/internal/version"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
	"github.com/inferscale/inferscale/webhook/policy"
	"github.com/inferscale/inferscale/webhook/server"
	"github.com/inferscale/inferscale/workload"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "inferscale-webhook:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		port      int
		probeAddr string
		metrics   string
		excluded  string
		ceiling   int
		template  = inject.DefaultConfig()
		certOpts  = certs.WebhookOptions()
		logOpts   = logging.Defaults()
		showVer   bool
	)
	flag.IntVar(&port, "webhook-port", 9443, "port of the admission webhook server (HTTPS)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.StringVar(&metrics, "metrics-bind-address", ":8080", "address of /metrics; 0 disables it")
	flag.StringVar(&excluded, "excluded-namespaces", metav1.NamespaceSystem, "comma-separated namespaces never injected, besides --namespace (inferscale's own)")
	flag.IntVar(&ceiling, "max-replicas-ceiling", int(policy.DefaultMaxReplicas), "largest spec.maxReplicas a policy may have in this cluster")
	template.BindFlags(flag.CommandLine)
	certOpts.BindFlags(flag.CommandLine)
	logOpts.BindFlags(flag.CommandLine)
	flag.BoolVar(&showVer, "version", false, "print the version and exit")
	flag.Parse()
	if showVer {
		fmt.Println("inferscale-webhook", version.String())
		return nil
	}
	root, flush, err := logOpts.New(os.Stderr)
	if err != nil {
		return err
	}
	defer flush()
	ctrl.SetLogger(root)
	klog.SetLogger(root.WithName("client-go"))
	// The agents report to the scaler of this install unless told otherwise.
	if !flagSet("scaler-url") {
		template.ScalerURL = inject.ScalerURL(certOpts.Namespace)
	}
	log := ctrl.Log.WithName("inferscale-webhook")
	log.Info("starting", "version", version.String(), "namespace", certOpts.Namespace, "certMode", certOpts.Mode, "agentImage", template.Image, "scalerURL", template.ScalerURL)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()

	// Admission never waits for an informer to start: see webhook/server's warmup.
	cacheOpts := cache.Options{ReaderFailOnMissingInformer: true}
	workload.CacheOptions(&cacheOpts)
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: metrics},
		HealthProbeBindAddress: probeAddr,
		WebhookServer:          webhook.NewServer(webhook.Options{Port: port, CertDir: certOpts.CertDir}),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if certOpts.SelfManaged() {
		// A direct client: the certificate bootstrap reads a few named
		// Secrets and needs neither an informer nor list/watch rights.
		c, err := client.New(restCfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		cm, err := certs.NewManager(c, certOpts)
		if err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
		// The webhook server cannot start without its files.
		ensureCtx, cancel := context.WithTimeout(ctx, time.Minute)
		err = cm.Ensure(ensureCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
		if err := mgr.Add(cm); err != nil {
			return err
		}
	}
	if ceiling < 1 || ceiling > math.MaxInt32 {
		return fmt.Errorf("--max-replicas-ceiling %d: want 1 to %d", ceiling, math.MaxInt32)
	}
	opts := server.Options{Template: template, OptIn: optin.Options{ExcludedNamespaces: append(splitList(excluded), certOpts.Namespace)}, MaxReplicasCeiling: int32(ceiling)}
	server.RegisterMetrics(ctrlmetrics.Registry)
	if err := server.Setup(mgr, opts); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// flagSet reports whether the command line set the flag.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
