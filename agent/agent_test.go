package agent

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/go-logr/logr/testr"

	"github.com/inferscale/inferscale/agent/modelmetrics"
	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/internal/nettest"
)

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func baseConfig(t *testing.T, upstreamPort int) Config {
	c := agentv1.Default()
	c.ListenPort, c.AdminPort, c.UpstreamPort = nettest.FreePort(t), nettest.FreePort(t), upstreamPort
	c.GPU = agentv1.GPUOff
	c.DrainGrace, c.DrainTimeout = 0, 10*time.Second
	return c
}

// start runs the agent until the test ends; stop drains it and returns Run's error.
func start(t *testing.T, c Config, o Options) (a *Agent, stop func() error) {
	t.Helper()
	a, err := New(c, testr.New(t), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

func twoGPUs() *mock.Interface {
	dev := func(i int) *mock.Device {
		return &mock.Device{
			GetIndexFunc:            func() (int, nvml.Return) { return i, nvml.SUCCESS },
			GetUUIDFunc:             func() (string, nvml.Return) { return fmt.Sprintf("GPU-%d", i), nvml.SUCCESS },
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: uint32(40 + i)}, nvml.SUCCESS },
			GetMemoryInfoFunc:       func() (nvml.Memory, nvml.Return) { return nvml.Memory{Used: 1 << 30, Total: 80 << 30}, nvml.SUCCESS },
			GetPowerUsageFunc:       func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
			GetClockInfoFunc:        func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
			// Everything else a Pascal-era GPU lacks: no MIG, no GPM, no limits or reasons.
			IsMigDeviceHandleFunc:            func() (bool, nvml.Return) { return false, nvml.SUCCESS },
			GetMigModeFunc:                   func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED },
			GpmQueryDeviceSupportFunc:        func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{}, nvml.ERROR_NOT_SUPPORTED },
			GetEnforcedPowerLimitFunc:        func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
			GetMaxClockInfoFunc:              func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
			GetCurrentClocksEventReasonsFunc: func() (uint64, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED },
		}
	}
	devs := []*mock.Device{dev(0), dev(1)}
	return &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:       func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			return devs[i], nvml.SUCCESS
		},
	}
}

// TestReportsEndToEnd: traffic through the agent, the model's vLLM gauges and the GPUs end
// up in a report the scaler's decoder accepts.
func TestReportsEndToEnd(t *testing.T) {
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 4\n")
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer model.Close()
	reports := make(chan *reportv1.Report, 100)
	scaler := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep, err := reportv1.Decode(r.Body)
		if err != nil || r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, fmt.Sprint(err), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		reports <- rep
	}))
	defer scaler.Close()
	dir := t.TempDir()
	ca, token := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: scaler.Certificate().Raw}), 0o600)
	_ = os.WriteFile(token, []byte("secret\n"), 0o600)

	c := baseConfig(t, portOf(t, model.URL))
	c.ScalerURL, c.CAFile, c.TokenFile = scaler.URL, ca, token
	c.PodName, c.PodNamespace, c.PodUID, c.NodeName = "llama-0", "ai", "uid-1", "node-1"
	c.ModelMetrics = "vllm"
	c.ReportInterval = 20 * time.Millisecond
	c.GPU = "auto"
	c.PodResourcesSocket = filepath.Join(dir, "absent.sock")
	a, _ := start(t, c, Options{NVML: twoGPUs()})

	for range 10 {
		res, err := http.Get("http://" + a.Addr().String() + "/generate")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	var total uint64
	var sawModel, sawMissing, sawGPUs bool
	for total < 10 || !sawModel || !sawMissing || !sawGPUs {
		select {
		case rep := <-reports:
			total += rep.Requests.Status2xx
			sawModel = sawModel || rep.ModelMetrics["vllm:num_requests_waiting"] == 4
			sawMissing = sawMissing || rep.ModelMetricsScrape.Missing["vllm:num_requests_running"] == reportv1.ScrapeNotExported
			sawGPUs = sawGPUs || (len(rep.GPUs) == 2 && *rep.GPUs[1].UtilizationPercent == 41 && rep.GPUAttribution == reportv1.GPUAttributionUnattributed)
			if rep.Pod != (reportv1.PodRef{Namespace: "ai", Name: "llama-0", UID: "uid-1", Node: "node-1"}) {
				t.Fatalf("pod %+v", rep.Pod)
			}
			if _, ok := rep.ModelMetrics["vllm:num_requests_running"]; ok {
				t.Fatal("absent model gauge reported")
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("reports so far: %d requests, model gauges %v, missing said %v, GPUs %v", total, sawModel, sawMissing, sawGPUs)
		}
	}
	if total != 10 {
		t.Errorf("reports counted %d requests, want 10", total)
	}

	res, err := http.Get("http://" + a.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, m := range []string{"inferscale_agent_request_duration_seconds_count{class=\"2xx\"} 10",
		`inferscale_agent_gpu_utilization_percent{uuid="GPU-1"} 41`, `inferscale_agent_gpu_info{attribution="Unattributed",index="1",mig="false",parent_uuid="",uuid="GPU-1"} 1`, "inferscale_agent_reports_sent_total", "inferscale_agent_reports_dropped_total", "inferscale_agent_requests_in_flight"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// A report says why the gauges are missing: which the last scrape did not find, that the
// scrape fails, that none finished lately, or (an empty status) that the agent scrapes none.
func TestReportSaysWhyModelGaugesAreMissing(t *testing.T) {
	now := time.Unix(1000, 0)
	rep := func(a *Agent) (*reportv1.Report, *reportv1.ModelMetricsScrape) {
		r := &reportv1.Report{Interval: reportv1.Interval{Start: now.Add(-time.Second), End: now}}
		st := a.modelMetrics(r)
		return r, st
	}
	a := &Agent{cfg: Config{ReportInterval: time.Second}}
	if r, st := rep(a); r.ModelMetrics != nil || st == nil || st.Error != "" || st.Missing != nil {
		t.Errorf("no scraper: %v %+v, want an empty status", r.ModelMetrics, st)
	}

	a.scraper = &modelmetrics.Scraper{Names: []string{"a", "b"}}
	if _, st := rep(a); !strings.Contains(st.Error, "no scrape") {
		t.Errorf("before any scrape: %+v", st)
	}
	a.model.Store(&scrape{at: now.Add(-time.Second), Result: modelmetrics.Result{
		Values: map[string]float64{"a": 1}, Missing: map[string]string{"b": reportv1.ScrapeNotExported}}})
	if r, st := rep(a); r.ModelMetrics["a"] != 1 || st.Missing["b"] != reportv1.ScrapeNotExported || st.Error != "" {
		t.Errorf("fresh scrape: %v %+v", r.ModelMetrics, st)
	}
	msg := reportv1.ScrapeError(errors.New("scraping model metrics http://127.0.0.1:8000/metrics: status 404"))
	a.modelErr.Store(&msg)
	if r, st := rep(a); r.ModelMetrics["a"] != 1 || st.Error != msg {
		t.Errorf("a failed scrape after a fresh one: %v %+v", r.ModelMetrics, st)
	}
	a.model.Store(&scrape{at: now.Add(-4 * time.Second)})
	if r, st := rep(a); r.ModelMetrics != nil || st.Missing != nil || st.Error != msg {
		t.Errorf("failing with stale values: %v %+v", r.ModelMetrics, st)
	}
	a.modelErr.Store(nil)
	if _, st := rep(a); !strings.Contains(st.Error, "no scrape") {
		t.Errorf("stale values without an error: %+v", st)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestReadinessFollowsModel(t *testing.T) {
	ready := true
	var mu sync.Mutex
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	c := baseConfig(t, portOf(t, model.URL))
	c.ModelReadyPath = "/health"
	a, _ := start(t, c, Options{})
	admin := "http://" + a.AdminAddr().String()
	if s := getStatus(t, admin+"/readyz"); s != 200 {
		t.Errorf("readyz %d with a ready model", s)
	}
	mu.Lock()
	ready = false
	mu.Unlock()
	if s := getStatus(t, admin+"/readyz"); s != 503 {
		t.Errorf("readyz %d with an unready model", s)
	}
	model.Close()
	if s := getStatus(t, admin+"/readyz"); s != 503 {
		t.Errorf("readyz %d with the model down", s)
	}
	if s := getStatus(t, admin+"/healthz"); s != 200 {
		t.Errorf("healthz %d: the agent itself is fine", s)
	}
	if s := getStatus(t, "http://"+a.Addr().String()+"/"); s != 503 {
		t.Errorf("request to a down model: %d, want 503", s)
	}
}

// TestDrainUnderLoadLosesNoRequest: clients hammer the agent while it drains. Every request
// that reached the model gets its whole answer, a stream that began before SIGTERM runs to its
// end, and a request that fails never reached the model (a refused or reset connection, or a
// keep-alive connection closed as the request was sent: safe for the client to retry).
func TestDrainUnderLoadLosesNoRequest(t *testing.T) {
	releaseStream := make(chan struct{})
	var seenMu sync.Mutex
	seen := map[string]bool{}
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			<-releaseStream
			fmt.Fprint(w, "data: 2\n\n")
			return
		}
		seenMu.Lock()
		seen[r.URL.Query().Get("id")] = true
		seenMu.Unlock()
		time.Sleep(time.Millisecond) // some work, so requests overlap the drain
		fmt.Fprint(w, strings.Repeat("x", 4096))
	}))
	defer model.Close()
	c := baseConfig(t, portOf(t, model.URL))
	c.DrainGrace = 200 * time.Millisecond
	a, stop := start(t, c, Options{})
	base := "http://" + a.Addr().String()

	streamRes, err := http.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	streamBody := bufio.NewReader(streamRes.Body)
	if l, _ := streamBody.ReadString('\n'); l != "data: 1\n" {
		t.Fatalf("stream start %q", l)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok int
	var failed, broken []string // failed: no answer; broken: a wrong or partial answer
	for client := range 8 {
		wg.Go(func() {
			hc := &http.Client{Transport: &http.Transport{}}
			for i := 0; ; i++ {
				id := fmt.Sprintf("%d-%d", client, i)
				res, err := hc.Get(base + "/work?id=" + id)
				if err != nil {
					mu.Lock()
					failed = append(failed, id)
					mu.Unlock()
					if errors.Is(err, syscall.ECONNREFUSED) {
						return // the listener is closed: done
					}
					continue
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				mu.Lock()
				if err != nil || res.StatusCode != 200 || len(b) != 4096 {
					broken = append(broken, fmt.Sprintf("%s: status %d, %d bytes, %v", id, res.StatusCode, len(b), err))
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	// Let the load run, then SIGTERM.
	for {
		mu.Lock()
		n := ok
		mu.Unlock()
		if n >= 200 {
			break
		}
		runtime.Gosched()
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	// Not ready at once.
	for getStatus(t, "http://"+a.AdminAddr().String()+"/readyz") != 503 {
		runtime.Gosched()
	}
	wg.Wait() // every client ends at a refused connection
	close(releaseStream)
	rest, err := io.ReadAll(streamBody)
	streamRes.Body.Close()
	if err != nil || string(rest) != "\ndata: 2\n\n" {
		t.Errorf("stream cut during drain: %q %v", rest, err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(broken) > 0 {
		t.Errorf("%d answers broken during drain (ok %d): %v", len(broken), ok, broken[:min(5, len(broken))])
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	for _, id := range failed {
		if seen[id] {
			t.Errorf("request %s reached the model but its client got no answer", id)
		}
	}
	t.Logf("%d requests answered, %d refused before reaching the agent", ok, len(failed))
}

// TestScalerAwayCostsNoRequest: with the scaler unreachable, reports are dropped and counted
// and every request is served.
func TestScalerAwayCostsNoRequest(t *testing.T) {
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer model.Close()
	token := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(token, []byte("t"), 0o600)
	c := baseConfig(t, portOf(t, model.URL))
	c.ScalerURL = fmt.Sprintf("http://127.0.0.1:%d", nettest.FreePort(t)) // nobody listens
	c.TokenFile = token
	c.PodName, c.PodNamespace, c.PodUID = "p", "n", "u"
	c.ReportInterval, c.ReportBuffer = 10*time.Millisecond, 2
	a, _ := start(t, c, Options{})

	var wg sync.WaitGroup
	errs := make(chan error, 2000)
	for range 16 {
		wg.Go(func() {
			for range 100 {
				res, err := http.Get("http://" + a.Addr().String() + "/")
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != "ok" {
					errs <- fmt.Errorf("status %d body %q", res.StatusCode, b)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Reports pile up behind the one being retried and the oldest are dropped.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrapeMetrics(t, a), `inferscale_agent_reports_dropped_total{reason="buffer_full"}`) {
		if time.Now().After(deadline) {
			t.Fatal("no report was dropped")
		}
		runtime.Gosched()
	}
}

func scrapeMetrics(t *testing.T, a *Agent) string {
	res, err := http.Get("http://" + a.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
