package agent

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/inferscale/inferscale/agent/gpu"
	"github.com/inferscale/inferscale/agent/modelmetrics"
	"github.com/inferscale/inferscale/agent/proxy"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Config is the agent's configuration. Every field has a flag and an environment variable
// (see agent/README.md); a flag given on the command line wins over the environment.
type Config struct {
	ListenPort   int
	AdminPort    int
	UpstreamHost string
	UpstreamPort int
	Protocol     string

	MaxConcurrency int
	QueueSize      int

	ModelReadyPath   string
	ModelMetrics     string
	ModelMetricsPort int
	ModelMetricsPath string

	ScalerURL      string
	CAFile         string
	CABundle       string
	TokenFile      string
	ReportInterval time.Duration
	ReportBuffer   int

	PodName      string
	PodNamespace string
	PodUID       string
	NodeName     string

	GPU                string
	PodResourcesSocket string

	DrainGrace   time.Duration
	DrainTimeout time.Duration
}

// flagEnv names the environment variable of each flag whose name is not simply
// INFERSCALE_ + the flag in upper snake case: pod identity comes from the downward API.
var flagEnv = map[string]string{
	"pod-name":      "POD_NAME",
	"pod-namespace": "POD_NAMESPACE",
	"pod-uid":       "POD_UID",
	"node-name":     "NODE_NAME",
}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	if e, ok := flagEnv[name]; ok {
		return e
	}
	return "INFERSCALE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// BindFlags defines the flags on fs with their defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.ListenPort, "listen-port", 9080, "port the agent serves client traffic on (the pod's serving port name points here)")
	fs.IntVar(&c.AdminPort, "admin-port", 9090, "port of /metrics, /healthz and /readyz")
	fs.StringVar(&c.UpstreamHost, "upstream-host", "127.0.0.1", "host of the model server")
	fs.IntVar(&c.UpstreamPort, "upstream-port", 0, "port of the model server (required)")
	fs.StringVar(&c.Protocol, "protocol", string(proxy.HTTP), "what the model speaks: http (HTTP/1.1; gRPC requests still go over h2c) or grpc (h2c only)")
	fs.IntVar(&c.MaxConcurrency, "max-concurrency", 0, "requests passed to the model at once; 0 means no limit")
	fs.IntVar(&c.QueueSize, "queue-size", 100, "requests waiting for a slot when --max-concurrency is reached; beyond it 503 with Retry-After")
	fs.StringVar(&c.ModelReadyPath, "model-ready-path", "", "HTTP path whose 2xx makes the agent ready; empty: ready when the model port accepts connections")
	fs.StringVar(&c.ModelMetrics, "model-metrics", "", "comma-separated presets (vllm, triton, tgi) and metric names to scrape from the model; empty: none")
	fs.IntVar(&c.ModelMetricsPort, "model-metrics-port", 0, "port of the model's Prometheus endpoint; 0 means --upstream-port")
	fs.StringVar(&c.ModelMetricsPath, "model-metrics-path", "/metrics", "path of the model's Prometheus endpoint")
	fs.StringVar(&c.ScalerURL, "scaler-url", "", "base URL of the scaler (https://...); empty: no reports are sent")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM CA bundle that signs the scaler's certificate; empty: --ca-bundle, else system roots")
	fs.StringVar(&c.CABundle, "ca-bundle", "", "the same PEM CA bundle inline, as the injecting webhook hands it over; --ca-file wins")
	fs.StringVar(&c.TokenFile, "token-file", "/var/run/secrets/inferscale/token", "projected service-account token (audience inferscale-scaler), re-read on every send")
	fs.DurationVar(&c.ReportInterval, "report-interval", time.Second, "interval of one report")
	fs.IntVar(&c.ReportBuffer, "report-buffer", 60, "reports kept while the scaler is unreachable; older ones are dropped and counted")
	fs.StringVar(&c.PodName, "pod-name", "", "name of this pod (downward API)")
	fs.StringVar(&c.PodNamespace, "pod-namespace", "", "namespace of this pod (downward API)")
	fs.StringVar(&c.PodUID, "pod-uid", "", "UID of this pod (downward API)")
	fs.StringVar(&c.NodeName, "node-name", "", "node of this pod (downward API)")
	fs.StringVar(&c.GPU, "gpu", "auto", "GPU reporting: auto (NVML if present) or off")
	fs.StringVar(&c.PodResourcesSocket, "pod-resources-socket", gpu.DefaultPodResourcesSocket, "kubelet PodResources socket, to find this pod's GPUs; if absent, every GPU NVML sees")
	fs.DurationVar(&c.DrainGrace, "drain-grace", 3*time.Second, "after SIGTERM, how long to keep accepting new connections while not ready")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "after the grace period, how long in-flight requests and streams may take to finish")
}

// ApplyEnv sets every flag of fs that was not given on the command line from its environment
// variable. Call it after fs.Parse.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("env %s: %w", EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

func newFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("inferscale-agent", flag.ContinueOnError)
	c.BindFlags(fs)
	return fs
}

// LoadConfig parses args and the environment.
func LoadConfig(args []string) (Config, error) {
	var c Config
	fs := newFlagSet(&c)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := ApplyEnv(fs, os.Getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate names the first invalid setting.
func (c *Config) Validate() error {
	port := func(name string, p int, zeroOK bool) error {
		if (p == 0 && zeroOK) || (p > 0 && p < 65536) {
			return nil
		}
		return fmt.Errorf("--%s %d: want a port in 1..65535", name, p)
	}
	var errs []error
	errs = append(errs,
		port("listen-port", c.ListenPort, false),
		port("admin-port", c.AdminPort, false),
		port("upstream-port", c.UpstreamPort, false),
		port("model-metrics-port", c.ModelMetricsPort, true))
	if c.ListenPort == c.AdminPort || c.ListenPort == c.UpstreamPort || c.AdminPort == c.UpstreamPort {
		errs = append(errs, fmt.Errorf("--listen-port %d, --admin-port %d and --upstream-port %d must differ", c.ListenPort, c.AdminPort, c.UpstreamPort))
	}
	if c.Protocol != string(proxy.HTTP) && c.Protocol != string(proxy.GRPC) {
		errs = append(errs, fmt.Errorf("--protocol %q: want http or grpc", c.Protocol))
	}
	if c.MaxConcurrency < 0 || c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("--max-concurrency %d and --queue-size %d must not be negative", c.MaxConcurrency, c.QueueSize))
	}
	if names, err := modelmetrics.ParseNames(c.ModelMetrics); err != nil {
		errs = append(errs, fmt.Errorf("--model-metrics: %w", err))
	} else if len(names) > reportv1.MaxModelMetrics {
		// The scaler would refuse every report.
		errs = append(errs, fmt.Errorf("--model-metrics: %d metrics, a report holds at most %d", len(names), reportv1.MaxModelMetrics))
	}
	if c.ReportInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--report-interval %s: want at least 10ms", c.ReportInterval))
	}
	if c.ScalerURL != "" {
		if !strings.HasPrefix(c.ScalerURL, "https://") && !strings.HasPrefix(c.ScalerURL, "http://") {
			errs = append(errs, fmt.Errorf("--scaler-url %q: want https://host[:port]", c.ScalerURL))
		}
		if c.PodName == "" || c.PodNamespace == "" || c.PodUID == "" {
			errs = append(errs, errors.New("--pod-name, --pod-namespace and --pod-uid (POD_NAME, POD_NAMESPACE, POD_UID) are required to send reports"))
		}
	}
	if c.GPU != "auto" && c.GPU != "off" {
		errs = append(errs, fmt.Errorf("--gpu %q: want auto or off", c.GPU))
	}
	if c.DrainGrace < 0 || c.DrainTimeout < 0 {
		errs = append(errs, errors.New("--drain-grace and --drain-timeout must not be negative"))
	}
	return errors.Join(errs...)
}
