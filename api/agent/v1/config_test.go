package v1

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// identity is what the downward API fills in for a running pod.
var identity = map[string]string{"metadata.name": "llama-0", "metadata.namespace": "ai", "metadata.uid": "u-1", "spec.nodeName": "n1", "status.podIP": "10.88.0.7"}

// start loads the rendered container as the kubelet would start it: args as given, env with
// the downward API's values.
func start(args []string, env []EnvVar) (Config, error) {
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
		if e.FieldPath != "" {
			vars[e.Name] = identity[e.FieldPath]
		}
	}
	return Load(args, func(k string) string { return vars[k] })
}

func withIdentity(c Config) Config {
	c.PodName, c.PodNamespace, c.PodUID, c.NodeName = identity["metadata.name"], identity["metadata.namespace"], identity["metadata.uid"], identity["spec.nodeName"]
	c.AdminAddress = identity["status.podIP"]
	return c
}

func TestRenderLoadsBackTheSameConfig(t *testing.T) {
	every := Default()
	every.ListenPort, every.AdminPort, every.UpstreamHost, every.UpstreamPort, every.Protocol = 1, 65535, "::1", 8000, ProtocolGRPC
	every.MaxConcurrency, every.QueueSize = MaxConcurrency, 0
	every.ModelReadyPath, every.ModelMetrics, every.ModelMetricsPort, every.ModelMetricsPath = "/v1/health/ready", "vllm,my_gauge", 8001, "/m"
	every.ScalerURL, every.CAFile, every.TokenFile = "https://s:8443", "/ca.pem", "/t"
	every.ForwardedHeaders = ForwardedPreserve
	every.ReportInterval, every.ReportBuffer, every.GPU, every.PodResourcesSocket = 250*time.Millisecond, 1, GPUOff, "/s"
	every.DrainGrace, every.DrainTimeout = 0, MaxDrainDuration
	every.Log.Level, every.Log.Format = "4", "console"

	minimal := Default()
	minimal.UpstreamPort = 8000

	for name, c := range map[string]Config{"every setting": every, "defaults but the model port": minimal} {
		t.Run(name, func(t *testing.T) {
			args, env := c.Render()
			got, err := start(args, env)
			if err != nil {
				t.Fatalf("rendered %q does not load: %v", args, err)
			}
			if want := withIdentity(c); !reflect.DeepEqual(got, want) {
				t.Errorf("loaded\n%+v\nwant\n%+v\nfrom %q", got, want, args)
			}
			for _, a := range args {
				if strings.HasPrefix(a, "--admin-address") || strings.HasPrefix(a, "--pod-name") || strings.HasPrefix(a, "--pod-uid") || strings.HasPrefix(a, "--pod-namespace") || strings.HasPrefix(a, "--node-name") {
					t.Errorf("arg %q: the pod's identity and address go in the environment", a)
				}
			}
		})
	}
	if args, _ := minimal.Render(); !reflect.DeepEqual(args, []string{"--upstream-port=8000"}) {
		t.Errorf("defaults rendered as %q: only what differs from a default is an argument", args)
	}
}

func TestLoadFlagWinsOverEnvironment(t *testing.T) {
	env := map[string]string{
		"POD_NAME": "llama-0", "POD_NAMESPACE": "ai", "POD_UID": "u",
		"INFERSCALE_UPSTREAM_PORT": "8000", "INFERSCALE_PROTOCOL": "grpc", "INFERSCALE_REPORT_INTERVAL": "2s",
		"INFERSCALE_SCALER_URL": "https://scaler:8443",
	}
	c, err := Load([]string{"--protocol=http", "--max-concurrency=4"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.PodName != "llama-0" || c.UpstreamPort != 8000 || c.ReportInterval != 2*time.Second || c.MaxConcurrency != 4 || c.TokenFile != DefaultTokenFile {
		t.Errorf("config %+v", c)
	}
	if c.Protocol != ProtocolHTTP {
		t.Errorf("protocol %q: the flag wins over the environment", c.Protocol)
	}
	if _, err := Load(nil, func(k string) string { return map[string]string{"INFERSCALE_QUEUE_SIZE": "many"}[k] }); err == nil || !strings.Contains(err.Error(), "INFERSCALE_QUEUE_SIZE") {
		t.Errorf("bad env value: %v", err)
	}
	if _, err := Load([]string{"--upstream-port=8000", "--scaler-url=https://s"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "POD_UID") {
		t.Errorf("reports without the pod's identity: %v", err)
	}
	if _, err := Load([]string{"--upstream-port=8000", "stray"}, func(string) string { return "" }); err == nil {
		t.Error("a stray argument was accepted")
	}
}

// TestCheckEveryLimit sets each setting at its limit (valid) and just beyond it (refused, the
// error naming the flag).
func TestCheckEveryLimit(t *testing.T) {
	names := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("m%d", i))
		}
		return strings.Join(s, ",")
	}
	long := func(n int) string { return "/" + strings.Repeat("a", n-1) }
	for _, tc := range []struct {
		flag        string
		atLimit     func(*Config)
		beyondLimit func(*Config)
	}{
		{"listen-port", func(c *Config) { c.ListenPort = 65535 }, func(c *Config) { c.ListenPort = 65536 }},
		{"listen-port", func(c *Config) { c.ListenPort = 1 }, func(c *Config) { c.ListenPort = 0 }},
		{"admin-port", func(c *Config) { c.AdminPort = 1 }, func(c *Config) { c.AdminPort = -1 }},
		{"listen-port", func(c *Config) { c.AdminPort = 9091 }, func(c *Config) { c.AdminPort = c.ListenPort }},
		{"upstream-port", func(c *Config) { c.UpstreamPort = 65535 }, func(c *Config) { c.UpstreamPort = c.AdminPort }},
		{"upstream-host", func(c *Config) { c.UpstreamHost = "model.local" }, func(c *Config) { c.UpstreamHost = "a/b" }},
		{"admin-address", func(c *Config) { c.AdminAddress = "fd00::7" }, func(c *Config) { c.AdminAddress = "localhost" }},
		{"forwarded-headers", func(c *Config) { c.ForwardedHeaders = ForwardedAppend }, func(c *Config) { c.ForwardedHeaders = "trust" }},
		{"protocol", func(c *Config) { c.Protocol = ProtocolGRPC }, func(c *Config) { c.Protocol = "udp" }},
		{"max-concurrency", func(c *Config) { c.MaxConcurrency = MaxConcurrency }, func(c *Config) { c.MaxConcurrency = MaxConcurrency + 1 }},
		{"max-concurrency", func(c *Config) { c.MaxConcurrency = 0 }, func(c *Config) { c.MaxConcurrency = -1 }},
		{"queue-size", func(c *Config) { c.QueueSize = MaxQueueSize }, func(c *Config) { c.QueueSize = MaxQueueSize + 1 }},
		{"queue-size", func(c *Config) { c.QueueSize = 0 }, func(c *Config) { c.QueueSize = -1 }},
		{"model-ready-path", func(c *Config) { c.ModelReadyPath = long(MaxPathLen) }, func(c *Config) { c.ModelReadyPath = long(MaxPathLen + 1) }},
		{"model-ready-path", func(c *Config) { c.ModelReadyPath = "/ready" }, func(c *Config) { c.ModelReadyPath = "/ready?x=1" }},
		{"model-metrics-path", func(c *Config) { c.ModelMetricsPath = long(MaxPathLen) }, func(c *Config) { c.ModelMetricsPath = "metrics" }},
		{"model-metrics-path", func(c *Config) { c.ModelMetricsPath = "/" }, func(c *Config) { c.ModelMetricsPath = "" }},
		{"model-metrics-port", func(c *Config) { c.ModelMetricsPort = 0 }, func(c *Config) { c.ModelMetricsPort = 65536 }},
		{"model-metrics", func(c *Config) { c.ModelMetrics = names(MaxModelMetrics) }, func(c *Config) { c.ModelMetrics = names(MaxModelMetrics + 1) }},
		{"model-metrics", func(c *Config) { c.ModelMetrics = "vllm," + names(MaxModelMetrics-3) }, func(c *Config) { c.ModelMetrics = "vllm," + names(MaxModelMetrics-2) }},
		{"model-metrics", func(c *Config) { c.ModelMetrics = strings.Repeat("m", MaxNameLen) }, func(c *Config) { c.ModelMetrics = strings.Repeat("m", MaxNameLen+1) }},
		{"model-metrics", func(c *Config) { c.ModelMetrics = "a:b_c" }, func(c *Config) { c.ModelMetrics = "bad{name" }},
		{"scaler-url", func(c *Config) { c.ScalerURL = "http://s" }, func(c *Config) { c.ScalerURL = "s:8443" }},
		{"token-file", func(c *Config) { c.ScalerURL, c.TokenFile = "https://s", "/t" }, func(c *Config) { c.ScalerURL, c.TokenFile = "https://s", "" }},
		{"report-interval", func(c *Config) { c.ReportInterval = MinReportPeriod }, func(c *Config) { c.ReportInterval = MinReportPeriod - 1 }},
		{"report-interval", func(c *Config) { c.ReportInterval = MaxReportPeriod }, func(c *Config) { c.ReportInterval = MaxReportPeriod + 1 }},
		{"report-buffer", func(c *Config) { c.ReportBuffer = MaxReportBuffer }, func(c *Config) { c.ReportBuffer = MaxReportBuffer + 1 }},
		{"report-buffer", func(c *Config) { c.ReportBuffer = 1 }, func(c *Config) { c.ReportBuffer = 0 }},
		{"gpu", func(c *Config) { c.GPU = GPUOff }, func(c *Config) { c.GPU = "on" }},
		{"drain-grace", func(c *Config) { c.DrainGrace = 0 }, func(c *Config) { c.DrainGrace = -1 }},
		{"drain-timeout", func(c *Config) { c.DrainTimeout = MaxDrainDuration }, func(c *Config) { c.DrainTimeout = MaxDrainDuration + 1 }},
		{"log-level", func(c *Config) { c.Log.Level = "10" }, func(c *Config) { c.Log.Level = "11" }},
		{"log-format", func(c *Config) { c.Log.Format = "console" }, func(c *Config) { c.Log.Format = "text" }},
	} {
		c := Default()
		c.UpstreamPort = 8000
		tc.atLimit(&c)
		if errs := c.Check(); len(errs) != 0 {
			t.Errorf("%s at its limit: %v", tc.flag, errs)
		}
		c = Default()
		c.UpstreamPort = 8000
		tc.beyondLimit(&c)
		errs := c.Check()
		if len(errs) == 0 || errs[0].Flag != tc.flag {
			t.Errorf("%s beyond its limit: got %v, want an error naming it", tc.flag, errs)
		}
	}
}

func TestParseModelMetrics(t *testing.T) {
	got, err := ParseModelMetrics("tgi, custom_gauge,tgi_queue_size,")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"custom_gauge", "tgi_batch_current_size", "tgi_queue_size"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"vllm,bad{name", "9lives", "a.b", "a b"} {
		if _, err := ParseModelMetrics(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestLimitsAreWhatAReportCarries: an agent at the limits sends reports the scaler accepts.
func TestLimitsAreWhatAReportCarries(t *testing.T) {
	rep := reportv1.Report{
		APIVersion: reportv1.APIVersion,
		Pod:        reportv1.PodRef{Namespace: "ai", Name: "p", UID: "u"},
		Interval:   reportv1.Interval{Start: time.Unix(0, 0), End: time.Unix(1, 0)},
	}
	rep.ModelMetrics = map[string]float64{}
	for i := range MaxModelMetrics {
		name := fmt.Sprintf("%03d", i) + strings.Repeat("m", MaxNameLen-3)
		rep.ModelMetrics[name] = 1
	}
	if err := rep.Validate(); err != nil {
		t.Fatalf("a report at the agent's limits is refused: %v", err)
	}
	rep.ModelMetrics["one_more"] = 1
	if err := rep.Validate(); err == nil {
		t.Error("a report beyond the agent's limits is accepted: the limits are not the report's")
	}
}
