// Package v1 is the inferscale agent's configuration: one typed value, its defaults, its
// validation, its flags and environment variables, and its rendering back to the arguments and
// environment of a container. The agent parses it; the injecting webhook builds it from a pod's
// annotations and its own flags, validates it at admission and renders it into the sidecar, so
// the two can never disagree about a flag, a default or a limit. Import it as agentv1. It
// depends on the standard library, api/report/v1 and internal/logging (the logging flags every
// binary shares) only: the agent must stay free of Kubernetes clients.
package v1

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/internal/logging"
)

// Protocols the agent speaks to the model.
const (
	ProtocolHTTP = "http" // HTTP/1.1; gRPC requests still go over h2c
	ProtocolGRPC = "grpc" // h2c only
)

// GPU reporting modes.
const (
	GPUAuto = "auto" // NVML if present
	GPUOff  = "off"
)

// How the agent knows which GPUs are its pod's (--gpu-attribution).
const (
	// GPUAttributionAuto: the kubelet's PodResources socket where it is mounted, else the
	// GPUs are reported unattributed.
	GPUAttributionAuto = "auto"
	// GPUAttributionDRA: the pod's ResourceClaims were shared with the agent, so every device
	// NVML shows it is the pod's.
	GPUAttributionDRA = "dra"
)

// What the agent does with the forwarding headers a client sent (--forwarded-headers):
// Forwarded, X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and X-Real-IP.
const (
	// ForwardedStrip: the client's are removed and the model gets X-Forwarded-For with the
	// address that connected to the agent, so no client can pose as another address.
	ForwardedStrip = "strip"
	// ForwardedAppend: the client's are passed and that address is appended to
	// X-Forwarded-For; for a proxy in front that sets them and is trusted to strip a
	// client's (an ingress, a mesh).
	ForwardedAppend = "append"
	// ForwardedPreserve: passed as the client sent them, nothing added.
	ForwardedPreserve = "preserve"
)

// GPUDeviceList splits --gpu-devices, a list separated by commas or spaces.
func GPUDeviceList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

const (
	// DefaultTokenFile is where the agent reads its projected service-account token; the
	// webhook mounts the token volume at TokenDir so that the default is right.
	DefaultTokenFile = TokenDir + "/token"
	// TokenDir is the directory of DefaultTokenFile.
	TokenDir = "/var/run/secrets/inferscale.io/token"
	// CAFile is where the injecting webhook mounts the scaler's trust bundle (a projected
	// ClusterTrustBundle that the kubelet refreshes); it is the --ca-file of injected agents.
	CAFile = CADir + "/ca.crt"
	// CADir is the directory of CAFile.
	CADir = "/var/run/secrets/inferscale.io/ca"
	// DefaultPodResourcesSocket is where the kubelet serves the PodResources API.
	DefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"
)

// Limits of the settings. MaxModelMetrics and MaxNameLen are what one report may carry: an
// agent that scrapes more would have every report refused.
const (
	MaxModelMetrics  = reportv1.MaxModelMetrics
	MaxNameLen       = reportv1.MaxNameLen
	MaxPathLen       = 1024
	MaxConcurrency   = 1 << 20
	MaxQueueSize     = 1 << 20
	MaxReportBuffer  = 10000
	MinReportPeriod  = 10 * time.Millisecond
	MaxReportPeriod  = time.Minute
	MaxDrainDuration = 10 * time.Minute
)

// ModelMetricPresets name the queue and load gauges of common model servers.
var ModelMetricPresets = map[string][]string{
	"vllm":   {"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"},
	"triton": {"nv_inference_pending_request_count"},
	"tgi":    {"tgi_queue_size", "tgi_batch_current_size"},
}

// Config is the agent's configuration. Every field has a flag and an environment variable
// (EnvName); a flag given on the command line wins over the environment.
type Config struct {
	ListenPort int
	AdminPort  int
	// AdminAddress is the IP the admin port listens on: the pod's IP in an injected agent
	// (the kubelet probes and Prometheus scrapes come to it), never every interface.
	AdminAddress string
	UpstreamHost string
	UpstreamPort int
	Protocol     string

	MaxConcurrency int
	QueueSize      int

	ForwardedHeaders string

	ModelReadyPath   string
	ModelMetrics     string
	ModelMetricsPort int
	ModelMetricsPath string

	ScalerURL      string
	CAFile         string
	TokenFile      string
	ReportInterval time.Duration
	ReportBuffer   int

	PodName      string
	PodNamespace string
	PodUID       string
	NodeName     string

	GPU                string
	GPUAttribution     string
	GPUDevices         string
	PodResourcesSocket string

	DrainGrace   time.Duration
	DrainTimeout time.Duration

	// Log is --log-level and --log-format, as on every inferscale binary.
	Log logging.Options
}

// Environment variables of the settings that are not simply INFERSCALE_ + the flag in upper
// snake case: pod identity, which comes from the downward API.
const (
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	EnvPodUID       = "POD_UID"
	EnvNodeName     = "NODE_NAME"
	EnvPodIP        = "POD_IP"
)

// DownwardAPI maps each pod-identity variable to the pod field the downward API fills it from.
var DownwardAPI = []struct{ Env, FieldPath string }{
	{EnvPodName, "metadata.name"},
	{EnvPodNamespace, "metadata.namespace"},
	{EnvPodUID, "metadata.uid"},
	{EnvNodeName, "spec.nodeName"},
	{EnvPodIP, "status.podIP"},
}

var flagEnv = map[string]string{
	"pod-name":      EnvPodName,
	"pod-namespace": EnvPodNamespace,
	"pod-uid":       EnvPodUID,
	"node-name":     EnvNodeName,
	"admin-address": EnvPodIP,
}

// envOnly are the flags Render passes as environment variables: pod identity and address
// (from the downward API).
var envOnly = map[string]bool{"pod-name": true, "pod-namespace": true, "pod-uid": true, "node-name": true, "admin-address": true}

// EnvName is the environment variable that sets flag name.
func EnvName(name string) string {
	if e, ok := flagEnv[name]; ok {
		return e
	}
	return "INFERSCALE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Default returns the configuration of an agent given no flags.
func Default() Config {
	var c Config
	c.BindFlags(flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// BindFlags defines the flags on fs, setting c to their defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.ListenPort, "listen-port", 9080, "port the agent serves client traffic on (the pod's serving port name points here)")
	fs.IntVar(&c.AdminPort, "admin-port", 9090, "port of /metrics, /healthz and /readyz")
	fs.StringVar(&c.AdminAddress, "admin-address", "127.0.0.1", "IP address the admin port listens on; an injected agent gets its pod's IP (POD_IP), where the kubelet probes it")
	fs.StringVar(&c.UpstreamHost, "upstream-host", "127.0.0.1", "host of the model server")
	fs.IntVar(&c.UpstreamPort, "upstream-port", 0, "port of the model server (required)")
	fs.StringVar(&c.Protocol, "protocol", ProtocolHTTP, "what the model speaks: http (HTTP/1.1; gRPC requests still go over h2c) or grpc (h2c only)")
	fs.IntVar(&c.MaxConcurrency, "max-concurrency", 0, "requests passed to the model at once; 0 means no limit")
	fs.StringVar(&c.ForwardedHeaders, "forwarded-headers", ForwardedStrip, "the client's Forwarded, X-Forwarded-For, -Host, -Proto and X-Real-IP headers: strip (removed; X-Forwarded-For is the address that connected), append (passed, that address appended to X-Forwarded-For; behind a trusted proxy) or preserve (passed unchanged)")
	fs.IntVar(&c.QueueSize, "queue-size", 100, "requests waiting for a slot when --max-concurrency is reached; beyond it 503 with Retry-After")
	fs.StringVar(&c.ModelReadyPath, "model-ready-path", "", "HTTP path whose 2xx makes the agent ready; empty: ready when the model port accepts connections")
	fs.StringVar(&c.ModelMetrics, "model-metrics", "", "comma-separated presets (vllm, triton, tgi) and metric names to scrape from the model; empty: none")
	fs.IntVar(&c.ModelMetricsPort, "model-metrics-port", 0, "port of the model's Prometheus endpoint; 0 means --upstream-port")
	fs.StringVar(&c.ModelMetricsPath, "model-metrics-path", "/metrics", "path of the model's Prometheus endpoint")
	fs.StringVar(&c.ScalerURL, "scaler-url", "", "base URL of the scaler (https://...); empty: no reports are sent")
	fs.StringVar(&c.CAFile, "ca-file", "", "PEM CA bundle that signs the scaler's certificate, re-read when its content changes; empty: the system roots")
	fs.StringVar(&c.TokenFile, "token-file", DefaultTokenFile, "projected service-account token (audience inferscale-scaler), re-read on every send")
	fs.DurationVar(&c.ReportInterval, "report-interval", time.Second, "interval of one report")
	fs.IntVar(&c.ReportBuffer, "report-buffer", 60, "reports kept while the scaler is unreachable; older ones are dropped and counted")
	fs.StringVar(&c.PodName, "pod-name", "", "name of this pod (downward API)")
	fs.StringVar(&c.PodNamespace, "pod-namespace", "", "namespace of this pod (downward API)")
	fs.StringVar(&c.PodUID, "pod-uid", "", "UID of this pod (downward API)")
	fs.StringVar(&c.NodeName, "node-name", "", "node of this pod (downward API)")
	fs.StringVar(&c.GPU, "gpu", GPUAuto, "GPU reporting: auto (NVML if present) or off")
	fs.StringVar(&c.GPUAttribution, "gpu-attribution", GPUAttributionAuto, "how the agent knows which GPUs are its pod's: auto (the PodResources socket if mounted, else unattributed) or dra (the pod's ResourceClaims were shared with the agent: every device NVML shows is the pod's)")
	fs.StringVar(&c.GPUDevices, "gpu-devices", "", "comma-separated GPU or MIG UUIDs, indexes or gpu:mig indexes to read instead of finding the pod's; reported as attribution Configured")
	fs.StringVar(&c.PodResourcesSocket, "pod-resources-socket", DefaultPodResourcesSocket, "kubelet PodResources socket, to find this pod's GPUs; if absent, GPUs are reported unattributed")
	fs.DurationVar(&c.DrainGrace, "drain-grace", 3*time.Second, "after SIGTERM, how long to keep accepting new connections while not ready")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 25*time.Second, "after the grace period, how long in-flight requests and streams may take to finish")
	c.Log = logging.Defaults()
	c.Log.BindFlags(fs)
}

// Load parses args and then the environment (getenv) for the flags args did not give, and
// validates the result as an agent about to start.
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("inferscale-agent", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := applyEnv(fs, getenv); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, c.ValidateIdentity()
}

func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
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

// EnvVar is one environment variable of the rendered container: a Value, or the pod field
// (FieldPath) the downward API fills it from.
type EnvVar struct {
	Name      string
	Value     string
	FieldPath string
}

// Render returns the container arguments and environment that make the agent load exactly c
// (once the downward API filled in the pod's identity): a --flag=value for every setting that
// differs from its default, in a fixed order, and the pod identity from the downward API.
func (c Config) Render() (args []string, env []EnvVar) {
	var view Config
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	view.BindFlags(fs) // flags now point into view, and hold their defaults
	view = c
	fs.VisitAll(func(f *flag.Flag) {
		if envOnly[f.Name] || f.Value.String() == f.DefValue {
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	for _, d := range DownwardAPI {
		env = append(env, EnvVar{Name: d.Env, FieldPath: d.FieldPath})
	}
	return args, env
}

// FieldError is one invalid setting, named by its flag.
type FieldError struct {
	Flag   string // without the dashes, e.g. "max-concurrency"
	Value  string
	Detail string
	// Others are the other flags the error is about, e.g. the second of two equal ports.
	Others []string
}

func (e FieldError) Error() string { return fmt.Sprintf("--%s %s: %s", e.Flag, e.Value, e.Detail) }

// Check returns every invalid setting of what is known before the pod exists: everything but
// the pod's identity (see ValidateIdentity).
func (c *Config) Check() []FieldError {
	var errs []FieldError
	bad := func(flag, value, format string, args ...any) {
		errs = append(errs, FieldError{Flag: flag, Value: value, Detail: fmt.Sprintf(format, args...)})
	}
	itoa := strconv.Itoa
	port := func(name string, p int, zeroOK bool) {
		if (p == 0 && zeroOK) || (p > 0 && p < 65536) {
			return
		}
		bad(name, itoa(p), "want a port in 1..65535")
	}
	port("listen-port", c.ListenPort, false)
	port("admin-port", c.AdminPort, false)
	port("upstream-port", c.UpstreamPort, false)
	port("model-metrics-port", c.ModelMetricsPort, true)
	if c.ListenPort == c.AdminPort {
		bad("listen-port", itoa(c.ListenPort), "the same as --admin-port")
		errs[len(errs)-1].Others = []string{"admin-port"}
	}
	if c.UpstreamPort == c.ListenPort || c.UpstreamPort == c.AdminPort {
		bad("upstream-port", itoa(c.UpstreamPort), "the model's port must differ from the agent's --listen-port %d and --admin-port %d", c.ListenPort, c.AdminPort)
		errs[len(errs)-1].Others = []string{"listen-port", "admin-port"}
	}
	if c.AdminAddress != "" && net.ParseIP(c.AdminAddress) == nil {
		bad("admin-address", strconv.Quote(c.AdminAddress), "want an IP address")
	}
	if c.ForwardedHeaders != ForwardedStrip && c.ForwardedHeaders != ForwardedAppend && c.ForwardedHeaders != ForwardedPreserve {
		bad("forwarded-headers", strconv.Quote(c.ForwardedHeaders), "want %s, %s or %s", ForwardedStrip, ForwardedAppend, ForwardedPreserve)
	}
	if c.UpstreamHost == "" || strings.ContainsAny(c.UpstreamHost, "/ @?#") {
		bad("upstream-host", strconv.Quote(c.UpstreamHost), "want a host name or IP address")
	}
	if c.Protocol != ProtocolHTTP && c.Protocol != ProtocolGRPC {
		bad("protocol", strconv.Quote(c.Protocol), "want %s or %s", ProtocolHTTP, ProtocolGRPC)
	}
	if c.MaxConcurrency < 0 || c.MaxConcurrency > MaxConcurrency {
		bad("max-concurrency", itoa(c.MaxConcurrency), "want 0..%d", MaxConcurrency)
	}
	if c.QueueSize < 0 || c.QueueSize > MaxQueueSize {
		bad("queue-size", itoa(c.QueueSize), "want 0..%d", MaxQueueSize)
	}
	path := func(name, v string, emptyOK bool) {
		if (v == "" && emptyOK) || (len(v) <= MaxPathLen && urlPath.MatchString(v)) {
			return
		}
		bad(name, strconv.Quote(v), "want an absolute URL path of at most %d bytes, without spaces or a query, such as /metrics", MaxPathLen)
	}
	path("model-ready-path", c.ModelReadyPath, true)
	path("model-metrics-path", c.ModelMetricsPath, false)
	if _, err := ParseModelMetrics(c.ModelMetrics); err != nil {
		bad("model-metrics", strconv.Quote(c.ModelMetrics), "%v", err)
	}
	if c.ScalerURL != "" && !strings.HasPrefix(c.ScalerURL, "https://") && !strings.HasPrefix(c.ScalerURL, "http://") {
		bad("scaler-url", strconv.Quote(c.ScalerURL), "want https://host[:port]")
	}
	if c.ScalerURL != "" && c.TokenFile == "" {
		bad("token-file", `""`, "reports need the pod's token")
	}
	if c.ReportInterval < MinReportPeriod || c.ReportInterval > MaxReportPeriod {
		bad("report-interval", c.ReportInterval.String(), "want %s..%s", MinReportPeriod, MaxReportPeriod)
	}
	if c.ReportBuffer < 1 || c.ReportBuffer > MaxReportBuffer {
		bad("report-buffer", itoa(c.ReportBuffer), "want 1..%d", MaxReportBuffer)
	}
	if c.GPU != GPUAuto && c.GPU != GPUOff {
		bad("gpu", strconv.Quote(c.GPU), "want %s or %s", GPUAuto, GPUOff)
	}
	if c.GPUAttribution != GPUAttributionAuto && c.GPUAttribution != GPUAttributionDRA {
		bad("gpu-attribution", strconv.Quote(c.GPUAttribution), "want %s or %s", GPUAttributionAuto, GPUAttributionDRA)
	}
	if ids := GPUDeviceList(c.GPUDevices); len(ids) > reportv1.MaxGPUs {
		bad("gpu-devices", strconv.Quote(c.GPUDevices), "%d devices, a report holds at most %d", len(ids), reportv1.MaxGPUs)
	} else if slices.ContainsFunc(ids, func(id string) bool { return len(id) > MaxNameLen }) {
		bad("gpu-devices", strconv.Quote(c.GPUDevices), "a device ID is longer than %d bytes", MaxNameLen)
	}
	if len(c.PodResourcesSocket) > MaxPathLen || (c.PodResourcesSocket != "" && !strings.HasPrefix(c.PodResourcesSocket, "/")) {
		bad("pod-resources-socket", strconv.Quote(c.PodResourcesSocket), "want an absolute path of at most %d bytes", MaxPathLen)
	}
	for name, d := range map[string]time.Duration{"drain-grace": c.DrainGrace, "drain-timeout": c.DrainTimeout} {
		if d < 0 || d > MaxDrainDuration {
			bad(name, d.String(), "want 0s..%s", MaxDrainDuration)
		}
	}
	if err := logging.CheckLevel(c.Log.Level); err != nil {
		bad("log-level", strconv.Quote(c.Log.Level), "%v", err)
	}
	if err := logging.CheckFormat(c.Log.Format); err != nil {
		bad("log-format", strconv.Quote(c.Log.Format), "%v", err)
	}
	slices.SortStableFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Flag, b.Flag) })
	return errs
}

// Validate is Check as one error, nil when every setting is valid.
func (c *Config) Validate() error {
	errs := c.Check()
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// ValidateIdentity checks what only the running pod knows: an agent that sends reports needs
// its pod's name, namespace and UID, which the downward API fills in after admission.
func (c *Config) ValidateIdentity() error {
	if c.ScalerURL != "" && (c.PodName == "" || c.PodNamespace == "" || c.PodUID == "") {
		return errors.New("--pod-name, --pod-namespace and --pod-uid (POD_NAME, POD_NAMESPACE, POD_UID) are required to send reports")
	}
	return nil
}

var (
	// metricName is a Prometheus metric name in the classic text format, the one the agent's
	// scraper reads.
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	// urlPath is an absolute HTTP path without spaces or a query.
	urlPath = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`)
)

// ParseModelMetrics expands a comma-separated list of presets and metric names, e.g.
// "vllm,my_queue_gauge", into sorted metric names without duplicates, and refuses more than a
// report can carry.
func ParseModelMetrics(spec string) ([]string, error) {
	var names []string
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case ModelMetricPresets[item] != nil:
			names = append(names, ModelMetricPresets[item]...)
		case len(item) > MaxNameLen:
			return nil, fmt.Errorf("model metric %.40q...: longer than %d bytes", item, MaxNameLen)
		case metricName.MatchString(item):
			names = append(names, item)
		default:
			return nil, fmt.Errorf("model metric %q is neither a preset (vllm, triton, tgi) nor a Prometheus metric name", item)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > MaxModelMetrics {
		return nil, fmt.Errorf("%d metrics, a report holds at most %d", len(names), MaxModelMetrics)
	}
	return names, nil
}
