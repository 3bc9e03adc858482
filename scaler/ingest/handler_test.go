package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clocktesting "k8s.io/utils/clock/testing"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/scaler/attribution"
	"github.com/inferscale/inferscale/scaler/auth"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
)

var key = target.Key{Namespace: "ai", Group: "apps", Kind: "Deployment", Name: "llama"}

// fakeAuth knows tokens "tok-<pod>" of pods in namespace ai with uid "uid-<pod>".
type fakeAuth struct{ fail error }

func (f fakeAuth) Authenticate(_ context.Context, token string) (auth.Identity, error) {
	if f.fail != nil {
		return auth.Identity{}, f.fail
	}
	pod, ok := strings.CutPrefix(token, "tok-")
	if !ok {
		return auth.Identity{}, fmt.Errorf("%w: unknown token", auth.ErrUnauthenticated)
	}
	return auth.Identity{Namespace: "ai", ServiceAccount: "default", PodName: pod, PodUID: "uid-" + pod}, nil
}

// Cached knows nothing: every token is reviewed.
func (fakeAuth) Cached(string) (auth.Identity, error, bool) { return auth.Identity{}, nil, false }

// fakeAttributor scales every pod but "stray" and "forged" with key.
type fakeAttributor struct{}

func (fakeAttributor) Resolve(_ context.Context, ns, name, uid string) (target.Key, error) {
	switch name {
	case "stray":
		return target.Key{}, attribution.ErrNotScaled
	case "forged":
		return target.Key{}, fmt.Errorf("pod ai/forged: %w: pod forged names Deployment llama as its controller, but a Deployment does not control Pods", attribution.ErrUnverified)
	}
	return key, nil
}

type fixture struct {
	h      *Handler
	store  *window.Store
	clock  *clocktesting.FakeClock
	leader atomic.Bool
	reg    *prometheus.Registry
}

func newFixture(t testing.TB, a Authenticator) *fixture {
	t.Helper()
	f := &fixture{clock: clocktesting.NewFakeClock(time.Unix(1_800_000_000, 0)), reg: prometheus.NewRegistry()}
	f.store = window.NewStore(f.clock)
	f.store.Configure(key, window.Config{Window: time.Minute, Latency: true})
	f.leader.Store(true)
	f.h = New(Options{
		Auth: a, Attributor: fakeAttributor{}, Store: f.store, IsLeader: f.leader.Load,
		Clock: f.clock, Metrics: NewMetrics(f.reg), Log: logr.Discard(),
	})
	return f
}

func validReport(pod string) *reportv1.Report {
	r := &reportv1.Report{
		APIVersion: reportv1.APIVersion,
		Pod:        reportv1.PodRef{Namespace: "ai", Name: pod, UID: "uid-" + pod},
		Interval:   reportv1.Interval{Start: time.Unix(1_800_000_000, 0), End: time.Unix(1_800_000_001, 0)},
		Requests:   reportv1.Requests{Status2xx: 3},
		InFlight:   reportv1.Gauge{Average: 1.5, Max: 3},
	}
	for _, v := range []float64{0.1, 0.2, 0.3} {
		r.Latency.Add(v)
		r.TimeToFirstByte.Add(v / 10)
	}
	return r
}

func encode(t testing.TB, r *reportv1.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := reportv1.Encode(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *fixture) post(token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func TestAnswers(t *testing.T) {
	good := encode(t, validReport("a"))
	oldVersion := validReport("a")
	oldVersion.APIVersion = "inferscale.io/report/v0"
	badField := validReport("a")
	badField.Requests.Status2xx = 7 // latency.count no longer matches
	stale := validReport("a")
	stale.Interval.Start, stale.Interval.End = stale.Interval.Start.Add(-time.Hour), stale.Interval.End.Add(-time.Hour)
	absurd := validReport("a")
	absurd.InFlight = reportv1.Gauge{Average: 1e6, Max: 1.7e308}
	// A scrape error an agent did not bound or make printable (terminal escapes).
	scrapeErr := validReport("a")
	scrapeErr.ModelMetricsScrape = &reportv1.ModelMetricsScrape{Error: "status 404\x1b[2J"}
	huge := append(append([]byte(`{"apiVersion":"`), bytes.Repeat([]byte("x"), reportv1.MaxReportBytes)...), `"}`...)

	for _, c := range []struct {
		name, token string
		body        []byte
		follower    bool
		storeFull   bool
		status      int
		reason      string
		inError     string
	}{
		{name: "accepted", token: "tok-a", body: good, status: 202},
		{name: "no token", body: good, status: 401, reason: "unauthenticated", inError: "Bearer"},
		{name: "invalid token", token: "garbage", body: good, status: 401, reason: "unauthenticated"},
		{name: "token of another pod", token: "tok-b", body: good, status: 403, reason: "wrong_pod", inError: "cannot report for pod ai/a"},
		{name: "follower", token: "tok-a", body: good, follower: true, status: 503, reason: "not_leader"},
		{name: "too large", token: "tok-a", body: huge, status: 413, reason: "too_large"},
		{name: "malformed", token: "tok-a", body: []byte(`{"apiVersion":`), status: 400, reason: "malformed"},
		{name: "other version", token: "tok-a", body: encode(t, oldVersion), status: 400, reason: "version", inError: "unsupported report version"},
		{name: "invalid field", token: "tok-a", body: encode(t, badField), status: 400, reason: "invalid", inError: "latency.count"},
		{name: "stale", token: "tok-a", body: encode(t, stale), status: 400, reason: "invalid", inError: "interval.end"},
		{name: "absurd gauge", token: "tok-a", body: encode(t, absurd), status: 400, reason: "invalid", inError: "inFlight.max"},
		{name: "unprintable scrape error", token: "tok-a", body: encode(t, scrapeErr), status: 400, reason: "invalid", inError: "modelMetricsScrape.error"},
		{name: "pod not scaled", token: "tok-stray", body: encode(t, validReport("stray")), status: 403, reason: "not_scaled"},
		{name: "store at its memory limit", token: "tok-a", body: good, storeFull: true, status: 503, reason: "memory_limit", inError: "memory limit"},
		{name: "owner reference not verified", token: "tok-forged", body: encode(t, validReport("forged")), status: 403, reason: "owner_unverified", inError: "a Deployment does not control Pods"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, fakeAuth{})
			f.leader.Store(!c.follower)
			if c.storeFull {
				f.store.SetMemoryLimit(0)
			}
			rec := f.post(c.token, c.body)
			if rec.Code != c.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			if c.status == 202 {
				if got := counter(t, f.h.opts.Metrics.reports.WithLabelValues("accepted", "")); got != 1 {
					t.Errorf("accepted reports metric = %v, want 1", got)
				}
				snap, _ := f.store.Window(key, time.Minute)
				if got := snap.Pods["a"].Requests; got != 3 {
					t.Errorf("stored requests = %d, want 3", got)
				}
				return
			}
			var body struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Fatalf("body %q is not a JSON error (%v)", rec.Body, err)
			}
			if !strings.Contains(body.Error, c.inError) {
				t.Errorf("error %q does not mention %q", body.Error, c.inError)
			}
			if got := counter(t, f.h.opts.Metrics.reports.WithLabelValues("refused", c.reason)); got != 1 {
				t.Errorf("refused{reason=%s} = %v, want 1", c.reason, got)
			}
			if (c.status == 503) != (rec.Header().Get("Retry-After") != "") {
				t.Errorf("Retry-After = %q with status %d", rec.Header().Get("Retry-After"), c.status)
			}
		})
	}
}

func TestClampedValuesAreCounted(t *testing.T) {
	f := newFixture(t, fakeAuth{})
	r := validReport("a")
	r.ModelMetrics = map[string]float64{"huge": 1.7e308}
	r.DroppedReports = 1 << 40
	if rec := f.post("tok-a", encode(t, r)); rec.Code != 202 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, field := range []string{"modelMetrics", "droppedReports"} {
		if got := counter(t, f.h.opts.Metrics.clamped.WithLabelValues(field)); got != 1 {
			t.Errorf("clamped{field=%s} = %v, want 1", field, got)
		}
	}
	if got := counter(t, f.h.opts.Metrics.agentDropped); got != reportv1.MaxDroppedReports {
		t.Errorf("dropped reports counted %v, want the clamp %d", got, reportv1.MaxDroppedReports)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t, fakeAuth{})
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	f := newFixture(t, fakeAuth{})
	body := io.MultiReader(strings.NewReader(`{"apiVersion":"`), strings.NewReader(strings.Repeat("x", reportv1.MaxReportBytes)))
	req := httptest.NewRequest(http.MethodPost, Path, body)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer tok-a")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}

func TestReviewFailureIsRetryable(t *testing.T) {
	f := newFixture(t, fakeAuth{fail: errors.New("apiserver unavailable")})
	rec := f.post("tok-a", encode(t, validReport("a")))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestRatePerPod(t *testing.T) {
	f := newFixture(t, fakeAuth{})
	a, b := encode(t, validReport("a")), encode(t, validReport("b"))
	for i := range 10 { // the burst
		if rec := f.post("tok-a", a); rec.Code != 202 {
			t.Fatalf("report %d: status %d", i, rec.Code)
		}
	}
	if rec := f.post("tok-a", a); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("report over the burst: status %d, want 429", rec.Code)
	}
	if rec := f.post("tok-b", b); rec.Code != 202 {
		t.Errorf("another pod was limited too: status %d", rec.Code)
	}
	f.clock.Step(time.Second) // 5 more tokens
	for i := range 5 {
		if rec := f.post("tok-a", a); rec.Code != 202 {
			t.Fatalf("report %d after refill: status %d", i, rec.Code)
		}
	}
	if rec := f.post("tok-a", a); rec.Code != http.StatusTooManyRequests {
		t.Errorf("after the refill is spent: status %d, want 429", rec.Code)
	}
}

func TestUnconfiguredTargetIsRetryable(t *testing.T) {
	f := newFixture(t, fakeAuth{})
	f.store.Forget(key)
	if rec := f.post("tok-a", encode(t, validReport("a"))); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
}

// FuzzHandler: no body crashes the handler, and every answer is one the protocol allows.
func FuzzHandler(f *testing.F) {
	f.Add(encode(f, validReport("a")))
	f.Add([]byte(`{"apiVersion":"inferscale.io/report/v1","latency":{"count":1,"spans":[{"index":99999,"counts":[1]}]}}`))
	f.Add([]byte(`{"pod":{"name":1}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"apiVersion":"inferscale.io/report/v1","pod":{"namespace":"ai","name":"a","uid":"uid-a"},"interval":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z"},"gpus":[{"utilizationPercent":"NaN"}]}`))
	fx := newFixture(f, fakeAuth{})
	// The limiters are built by New: a fuzzer's thousands of posts per second would meet them.
	fx.h.pods, fx.h.sources = newLimiters(1e9, 1e9), newLimiters(1e9, 1e9)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fx.post("tok-a", body)
		switch rec.Code {
		case 202, 400, 403, 413:
		default:
			t.Fatalf("status %d for body %q", rec.Code, body)
		}
	})
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
