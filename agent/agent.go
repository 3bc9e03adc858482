// Package agent wires the inferscale sidecar together: the measured proxy in front of the
// model, the admin endpoints, model-metric scraping, GPU sampling, and one report per
// interval to the scaler. It must not import client-go or controller-runtime.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"

	"github.com/inferscale/inferscale/agent/gpu"
	"github.com/inferscale/inferscale/agent/measure"
	"github.com/inferscale/inferscale/agent/modelmetrics"
	"github.com/inferscale/inferscale/agent/proxy"
	"github.com/inferscale/inferscale/agent/report"
	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/internal/version"
)

// Agent is one running sidecar.
type Agent struct {
	cfg      Config
	log      logr.Logger
	clock    clock.WithTicker
	reg      *prometheus.Registry
	rec      *measure.Recorder
	proxy    *proxy.Proxy
	upstream *url.URL

	data, admin     *http.Server
	dataLn, adminLn net.Listener

	draining atomic.Bool
	reporter *report.Client
	scraper  *modelmetrics.Scraper
	gpus     *gpu.Sampler
	// gpuAttribution goes with every report that carries GPUs; gpuGauges export the last
	// sample; gpuErr is the last sample's error, logged when it changes.
	gpuAttribution string
	gpuGauges      gpu.Gauges
	gpuErr         string
	// model holds the last successful scrape and when it was taken; modelErr the last
	// scrape's error, nil once one works again.
	model    atomic.Pointer[scrape]
	modelErr atomic.Pointer[string]
}

type scrape struct {
	at time.Time
	modelmetrics.Result
}

// Options are what tests and the bench swap; the zero value is production.
type Options struct {
	// NVML is the GPU library; nil means the system's (nvml.New()).
	NVML gpu.Library
	// Clock drives report intervals and retries; nil means the real clock.
	Clock clock.WithTicker
	// Registerer, if set, gets every metric of the agent as well as its own /metrics
	// registry: how a test lists them.
	Registerer prometheus.Registerer
}

// New validates cfg, binds the listen and admin ports and prepares everything; Run serves.
func New(cfg Config, log logr.Logger, o Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	a := &Agent{cfg: cfg, log: log, clock: o.Clock, reg: prometheus.NewRegistry()}
	var reg prometheus.Registerer = a.reg
	if o.Registerer != nil {
		reg = teeRegisterer{a.reg, o.Registerer}
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		version.NewCollector("inferscale-agent"))
	a.rec = measure.New(o.Clock, reg)
	a.upstream = &url.URL{Scheme: "http", Host: net.JoinHostPort(cfg.UpstreamHost, strconv.Itoa(cfg.UpstreamPort))}
	a.proxy = proxy.New(proxy.Options{
		Upstream:       a.upstream,
		Protocol:       proxy.Protocol(cfg.Protocol),
		MaxConcurrency: cfg.MaxConcurrency,
		QueueSize:      cfg.QueueSize,
		Forwarded:      proxy.Forwarded(cfg.ForwardedHeaders),
		Recorder:       a.rec,
		Log:            log.WithName("proxy"),
	})

	var err error
	if cfg.ScalerURL != "" {
		a.reporter, err = report.New(report.Options{
			ScalerURL: cfg.ScalerURL, CAFile: cfg.CAFile, TokenFile: cfg.TokenFile,
			Buffer: cfg.ReportBuffer, Clock: o.Clock, Log: log.WithName("report"), Registerer: reg,
		})
		if err != nil {
			return nil, err
		}
	} else {
		log.Info("no --scaler-url: reports are not sent")
	}
	if names, _ := agentv1.ParseModelMetrics(cfg.ModelMetrics); len(names) > 0 {
		port := cfg.ModelMetricsPort
		if port == 0 {
			port = cfg.UpstreamPort
		}
		a.scraper = &modelmetrics.Scraper{
			URL:    "http://" + net.JoinHostPort(cfg.UpstreamHost, strconv.Itoa(port)) + cfg.ModelMetricsPath,
			Names:  names,
			Client: &http.Client{Timeout: max(cfg.ReportInterval, time.Second)},
		}
	}
	if cfg.GPU == agentv1.GPUAuto {
		lib := o.NVML
		if lib == nil {
			lib = nvml.New()
		}
		a.gpus, a.gpuAttribution = a.openGPUs(lib)
		reg.MustRegister(&a.gpuGauges)
	}

	a.data = &http.Server{
		Handler:           http.HandlerFunc(a.serveData),
		Protocols:         new(http.Protocols),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	a.data.Protocols.SetHTTP1(true)
	a.data.Protocols.SetUnencryptedHTTP2(true) // gRPC clients speak h2c with prior knowledge
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", a.serveReady)
	a.admin = newAdminServer(mux)

	if a.dataLn, err = net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.ListenPort))); err != nil {
		a.closeGPUs()
		return nil, fmt.Errorf("--listen-port: %w", err)
	}
	// Only the address the kubelet probes and Prometheus scrapes (the pod's IP), not every
	// interface of the pod.
	if a.adminLn, err = net.Listen("tcp", net.JoinHostPort(cfg.AdminAddress, strconv.Itoa(cfg.AdminPort))); err != nil {
		a.dataLn.Close()
		a.closeGPUs()
		return nil, fmt.Errorf("--admin-port: %w", err)
	}
	return a, nil
}

// Timeouts of the admin server. Probes and scrapes are small and quick; a client that is
// not must not hold a connection.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = time.Minute
	adminMaxHeaderBytes    = 16 << 10
)

func newAdminServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: adminReadHeaderTimeout, ReadTimeout: adminReadTimeout,
		WriteTimeout: adminWriteTimeout, IdleTimeout: adminIdleTimeout, MaxHeaderBytes: adminMaxHeaderBytes}
}

// openGPUs finds the pod's devices and opens NVML for them, or says once why GPU reporting is
// off. The attribution says how it knows the devices are the pod's: the devices it was given
// (--gpu-devices), the pod's ResourceClaims shared with the agent (--gpu-attribution=dra), the
// kubelet's PodResources socket where it is mounted, or not at all.
func (a *Agent) openGPUs(lib gpu.Library) (*gpu.Sampler, string) {
	ids := agentv1.GPUDeviceList(a.cfg.GPUDevices)
	attribution := reportv1.GPUAttributionUnattributed
	switch {
	case len(ids) > 0:
		attribution = reportv1.GPUAttributionConfigured
	case a.cfg.GPUAttribution == agentv1.GPUAttributionDRA:
		attribution = reportv1.GPUAttributionDRA
	default:
		if _, err := os.Stat(a.cfg.PodResourcesSocket); err == nil && a.cfg.PodName != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ids, err = gpu.PodGPUs(ctx, a.cfg.PodResourcesSocket, a.cfg.PodNamespace, a.cfg.PodName)
			cancel()
			switch {
			case err != nil:
				a.log.Info("pod resources lookup failed; GPUs are reported unattributed", "err", err.Error())
			case len(ids) == 0:
				a.log.Info("GPU reporting off: the kubelet allocated no GPU to this pod")
				return nil, ""
			default:
				attribution = reportv1.GPUAttributionPodResources
			}
		}
	}
	s, err := gpu.Open(lib, ids)
	if err != nil {
		a.log.Info("GPU reporting off", "reason", err.Error())
		return nil, ""
	}
	if attribution == reportv1.GPUAttributionUnattributed {
		a.log.Info("GPU reporting on, unattributed: every GPU NVML shows is reported, and the scaler uses them only where the pod requests that many; "+
			"give the agent the pod's ResourceClaims (DRA) or the kubelet's PodResources socket for exact readings", "gpus", s.Len())
	} else {
		a.log.Info("GPU reporting on", "gpus", s.Len(), "attribution", attribution)
	}
	return s, attribution
}

func (a *Agent) closeGPUs() {
	if a.gpus != nil {
		if err := a.gpus.Close(); err != nil {
			a.log.Error(err, "closing NVML")
		}
	}
}

// Addr is the address clients reach the model through.
func (a *Agent) Addr() net.Addr { return a.dataLn.Addr() }

// AdminAddr is the address of /metrics, /healthz and /readyz.
func (a *Agent) AdminAddr() net.Addr { return a.adminLn.Addr() }

// Run serves until ctx ends (SIGTERM), then drains: readiness fails at once, new connections
// are still accepted for DrainGrace, then the listener closes and in-flight requests and
// streams get up to DrainTimeout to finish. The last interval's report is sent before return.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeGPUs()
	errc := make(chan error, 2)
	go func() { errc <- serve(a.data, a.dataLn, "data") }()
	go func() { errc <- serve(a.admin, a.adminLn, "admin") }()

	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if a.reporter != nil {
		wg.Go(func() { a.reporter.Run(bg) })
	}
	if a.scraper != nil {
		wg.Go(func() { a.scrapeLoop(bg) })
	}
	reportsDone := make(chan struct{})
	reportCtx, stopReports := context.WithCancel(context.Background())
	go func() { a.reportLoop(reportCtx); close(reportsDone) }()
	a.log.Info("serving", "listen", a.dataLn.Addr().String(), "admin", a.adminLn.Addr().String(), "upstream", a.upstream.Host, "protocol", a.cfg.Protocol)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		a.log.Error(err, "server failed; draining")
	}
	drainErr := a.drain()
	stopReports()
	<-reportsDone
	a.emitReport() // the interval that ended with the drain
	stopBG()
	wg.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.admin.Shutdown(shutdownCtx)
	return errors.Join(err, drainErr)
}

func serve(s *http.Server, ln net.Listener, name string) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}

func (a *Agent) drain() error {
	a.draining.Store(true)
	a.log.Info("draining", "grace", a.cfg.DrainGrace.String(), "timeout", a.cfg.DrainTimeout.String(), "inFlight", a.rec.InFlight.Value())
	if a.cfg.DrainGrace > 0 {
		<-a.clock.After(a.cfg.DrainGrace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer cancel()
	err := a.data.Shutdown(ctx)
	if err == nil {
		// net/http does not track hijacked (WebSocket) connections; the proxy does.
		err = a.proxy.Drain(ctx, 10*time.Millisecond)
	}
	if err != nil {
		a.log.Info("drain timeout: closing the remaining requests", "inFlight", a.rec.InFlight.Value())
		_ = a.data.Close()
		return fmt.Errorf("drain: %w", err)
	}
	a.log.Info("drained")
	return nil
}

// serveData proxies. While draining, HTTP/1.1 answers close their connection, so clients
// reconnect (to a ready pod) instead of reusing one the listener's closing would cut under a
// request already on its way; closing idle connections at once would race those requests.
func (a *Agent) serveData(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && a.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	a.proxy.ServeHTTP(w, r)
}

func (a *Agent) serveReady(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	if err := a.modelReady(r.Context()); err != nil {
		http.Error(w, "model not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// modelReady follows the model's readiness: its ready path answers 2xx, or, without one,
// its port accepts connections.
func (a *Agent) modelReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if a.cfg.ModelReadyPath == "" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a.upstream.Host)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.upstream.String()+a.cfg.ModelReadyPath, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", a.cfg.ModelReadyPath, res.StatusCode)
	}
	return nil
}

func (a *Agent) reportLoop(ctx context.Context) {
	t := a.clock.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			a.emitReport()
		}
	}
}

// emitReport closes the interval and hands its report to the sender; it never blocks on
// the network.
func (a *Agent) emitReport() {
	rep := &reportv1.Report{
		APIVersion: reportv1.APIVersion,
		Pod:        reportv1.PodRef{Namespace: a.cfg.PodNamespace, Name: a.cfg.PodName, UID: a.cfg.PodUID, Node: a.cfg.NodeName},
	}
	a.rec.Collect(rep)
	rep.ModelMetricsScrape = a.modelMetrics(rep)
	if a.gpus != nil {
		var err error
		rep.GPUs, err = a.gpus.Sample()
		if len(rep.GPUs) > 0 {
			rep.GPUAttribution = a.gpuAttribution
		}
		a.gpuGauges.Set(rep.GPUs, a.gpuAttribution)
		a.logGPUError(err)
	}
	if a.reporter != nil {
		a.reporter.Enqueue(rep)
	}
}

// modelMetrics fills rep's model gauges from the last scrape if it is recent, and says why the
// others are missing. An agent that scrapes nothing says so with an empty status: the scaler
// then knows its pod was not told to scrape the gauges a policy names.
func (a *Agent) modelMetrics(rep *reportv1.Report) *reportv1.ModelMetricsScrape {
	st := &reportv1.ModelMetricsScrape{}
	if a.scraper == nil {
		return st
	}
	s := a.model.Load()
	fresh := s != nil && rep.Interval.End.Sub(s.at) <= 3*a.cfg.ReportInterval
	if fresh {
		rep.ModelMetrics, st.Missing = s.Values, s.Missing
	}
	switch msg := a.modelErr.Load(); {
	case msg != nil:
		st.Error = *msg
	case !fresh:
		st.Error = "no scrape of the model's metrics finished in the last 3 report intervals"
	}
	return st
}

// logGPUError says when a device stops (or starts again) answering, not every interval.
func (a *Agent) logGPUError(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == a.gpuErr {
		return
	}
	if msg == "" {
		a.log.Info("every GPU answers again")
	} else {
		a.log.Info("GPU sample incomplete: devices left out of reports until they answer", "err", msg)
	}
	a.gpuErr = msg
}

func (a *Agent) scrapeLoop(ctx context.Context) {
	t := a.clock.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	failing := false
	for {
		v, err := a.scraper.Scrape(ctx)
		switch {
		case err == nil:
			a.model.Store(&scrape{at: a.clock.Now(), Result: v})
			a.modelErr.Store(nil)
			if failing {
				a.log.Info("model metrics scrape works again")
			}
			failing = false
		case ctx.Err() == nil:
			msg := reportv1.ScrapeError(err)
			a.modelErr.Store(&msg)
			if !failing {
				// Say it once per outage, not every second.
				a.log.Info("model metrics scrape failed; they are absent from reports until it works", "err", err.Error())
			}
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// teeRegisterer registers every collector with both registerers.
type teeRegisterer [2]prometheus.Registerer

func (t teeRegisterer) Register(c prometheus.Collector) error {
	if err := t[0].Register(c); err != nil {
		return err
	}
	return t[1].Register(c)
}

func (t teeRegisterer) MustRegister(cs ...prometheus.Collector) {
	t[0].MustRegister(cs...)
	t[1].MustRegister(cs...)
}

func (t teeRegisterer) Unregister(c prometheus.Collector) bool {
	a, b := t[0].Unregister(c), t[1].Unregister(c)
	return a && b
}
