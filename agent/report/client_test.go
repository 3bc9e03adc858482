package report

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/certs/authority"
)

// fakeScaler records the reports it accepts; while down it answers 503.
type fakeScaler struct {
	mu       sync.Mutex
	down     bool
	status   int // answer when up; 0 means 202
	refused  int // answers with status
	tokens   []string
	reports  []*reportv1.Report
	received chan struct{}
}

func (s *fakeScaler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != Path || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if s.down {
		http.Error(w, `{"error":"restarting"}`, http.StatusServiceUnavailable)
		return
	}
	rep, err := reportv1.Decode(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.status != 0 {
		s.refused++
		w.WriteHeader(s.status)
		return
	}
	s.tokens = append(s.tokens, r.Header.Get("Authorization"))
	s.reports = append(s.reports, rep)
	w.WriteHeader(http.StatusAccepted)
	s.received <- struct{}{}
}

func (s *fakeScaler) set(f func(*fakeScaler)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

type env struct {
	scaler    *fakeScaler
	client    *Client
	clock     *clocktesting.FakeClock
	tokenFile string
	cancel    context.CancelFunc
	done      chan struct{}
}

func setup(t *testing.T, buffer int) *env {
	t.Helper()
	fs := &fakeScaler{received: make(chan struct{}, 1000)}
	srv := httptest.NewTLSServer(fs)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	c, err := New(Options{
		ScalerURL: srv.URL, CAFile: ca, TokenFile: token, Buffer: buffer,
		MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
		Clock: clk, Log: testr.New(t), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{scaler: fs, client: c, clock: clk, tokenFile: token, cancel: cancel, done: make(chan struct{})}
	go func() { c.Run(ctx); close(e.done) }()
	t.Cleanup(func() { cancel(); <-e.done })
	return e
}

func report(n int) *reportv1.Report {
	start := time.Unix(int64(n), 0)
	return &reportv1.Report{
		APIVersion: reportv1.APIVersion,
		Pod:        reportv1.PodRef{Namespace: "ai", Name: "llama-0", UID: "u"},
		Interval:   reportv1.Interval{Start: start, End: start.Add(time.Second)},
	}
}

func TestSendsWithTokenOverVerifiedTLS(t *testing.T) {
	e := setup(t, 10)
	e.client.Enqueue(report(1))
	<-e.scaler.received
	// The kubelet rotates the token in place: the next send uses the new one.
	if err := os.WriteFile(e.tokenFile, []byte("token-2"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.client.Enqueue(report(2))
	<-e.scaler.received
	e.scaler.set(func(s *fakeScaler) {
		if len(s.tokens) != 2 || s.tokens[0] != "Bearer token-1" || s.tokens[1] != "Bearer token-2" {
			t.Errorf("tokens %q", s.tokens)
		}
		if !s.reports[1].Interval.Start.Equal(time.Unix(2, 0)) {
			t.Errorf("second report %+v", s.reports[1].Interval)
		}
	})
}

func TestUntrustedScalerRefused(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	defer srv.Close()
	token := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(token, []byte("t"), 0o600)
	c, err := New(Options{ScalerURL: srv.URL, TokenFile: token, Clock: clocktesting.NewFakeClock(time.Unix(0, 0)), Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(context.Background(), report(1)); err == nil {
		t.Fatal("sent to a scaler whose certificate no configured CA signed")
	}
}

// TestCAFileFollowsRotation: the CA file is missing when the agent starts (the kubelet has
// not projected the trust bundle yet), then appears; the scaler's CA is rotated with an
// overlap (old, then old and new, then new) while the same client keeps sending, each send on
// a new TLS connection; once the old CA left the file, a certificate it signed is refused.
func TestCAFileFollowsRotation(t *testing.T) {
	now := time.Now()
	caA, err := authority.NewCA(now, "a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caB, err := authority.NewCA(now, "b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving := func(ca *authority.KeyPair) *tls.Certificate {
		kp, err := ca.Issue(now, []string{"localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &pair
	}
	var served atomic.Pointer[tls.Certificate]
	served.Store(serving(caA))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	srv.TLS = &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return served.Load(), nil }}
	srv.Config.SetKeepAlivesEnabled(false) // every send verifies the certificate anew
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	token, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	_ = os.WriteFile(token, []byte("t"), 0o600)
	// A name, so that the client sends SNI and the server picks its certificate by it.
	c, err := New(Options{ScalerURL: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), TokenFile: token, CAFile: caFile, Clock: clocktesting.NewFakeClock(now), Log: testr.New(t)})
	if err != nil {
		t.Fatalf("New without the CA file yet: %v", err)
	}
	if err := c.send(context.Background(), report(1)); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("send before the CA file exists: %v, want an error naming it", err)
	}
	// The kubelet's atomic update: a new file renamed over the old one.
	project := func(cas ...*authority.KeyPair) {
		t.Helper()
		var b []byte
		for _, ca := range cas {
			b = append(b, ca.CertPEM...)
		}
		tmp := caFile + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, caFile); err != nil {
			t.Fatal(err)
		}
	}
	for i, step := range []struct {
		bundle []*authority.KeyPair
		server *authority.KeyPair
		ok     bool
	}{
		{bundle: []*authority.KeyPair{caA}, server: caA, ok: true},
		{bundle: []*authority.KeyPair{caA, caB}, server: caA, ok: true},
		{bundle: []*authority.KeyPair{caA, caB}, server: caB, ok: true},
		{bundle: []*authority.KeyPair{caB}, server: caB, ok: true},
		{bundle: []*authority.KeyPair{caB}, server: caA, ok: false},
	} {
		project(step.bundle...)
		served.Store(serving(step.server))
		err := c.send(context.Background(), report(i+2))
		if (err == nil) != step.ok {
			t.Errorf("step %d (trusting %d CAs, served by %s): send error %v, want ok=%v", i, len(step.bundle), step.server.Cert.Subject.CommonName, err, step.ok)
		}
	}
}

// TestScalerAway: while the scaler is down reports queue, the oldest are dropped and counted,
// and the first report delivered afterwards says how many were lost.
func TestScalerAway(t *testing.T) {
	e := setup(t, 3)
	e.scaler.set(func(s *fakeScaler) { s.down = true })
	e.client.Enqueue(report(0))
	// The sender is now backing off on report 0; ten more arrive meanwhile, three fit.
	waitTimer(t, e.clock)
	for i := 1; i <= 10; i++ {
		e.client.Enqueue(report(i))
	}
	// Retries keep failing for five minutes on the fake clock.
	for range 75 {
		e.clock.Step(4 * time.Second)
		waitTimer(t, e.clock)
	}
	e.scaler.set(func(s *fakeScaler) { s.down = false })
	e.clock.Step(4 * time.Second)
	for range 4 {
		<-e.scaler.received
	}
	e.scaler.set(func(s *fakeScaler) {
		var starts []int64
		for _, r := range s.reports {
			starts = append(starts, r.Interval.Start.Unix())
		}
		if len(starts) != 4 || starts[0] != 0 || starts[1] != 8 || starts[3] != 10 {
			t.Errorf("delivered intervals %v, want 0 then the newest three (8, 9, 10)", starts)
		}
		if s.reports[0].DroppedReports != 7 || s.reports[1].DroppedReports != 0 {
			t.Errorf("dropped counts %d then %d, want 7 then 0", s.reports[0].DroppedReports, s.reports[1].DroppedReports)
		}
	})
}

func TestRejectedReportDropped(t *testing.T) {
	e := setup(t, 3)
	e.scaler.set(func(s *fakeScaler) { s.status = http.StatusForbidden })
	e.client.Enqueue(report(1))
	for e.client.dropped.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	e.scaler.set(func(s *fakeScaler) { s.status = 0 })
	// Within the back-off after a 403 (MinBackoff, 1 s, jittered) nothing is sent.
	e.client.Enqueue(report(2))
	for e.client.dropped.Load() != 2 {
		time.Sleep(time.Millisecond)
	}
	e.clock.Step(time.Second)
	e.client.Enqueue(report(3))
	<-e.scaler.received
	e.scaler.set(func(s *fakeScaler) {
		if len(s.reports) != 1 || s.reports[0].Interval.Start.Unix() != 3 || s.reports[0].DroppedReports != 2 {
			t.Errorf("reports %d, dropped %d; want the third, carrying two drops", len(s.reports), s.reports[0].DroppedReports)
		}
	})
}

// After a 403 the agent stays quiet, twice as long after every further 403 (up to
// MaxForbiddenBackoff): a minute of reports of a pod no policy scales costs the scaler a
// handful of requests, not sixty. The first accepted report resets the wait.
func TestForbiddenBacksOff(t *testing.T) {
	e := setup(t, 3)
	e.scaler.set(func(s *fakeScaler) { s.status = http.StatusForbidden })
	for i := range 60 {
		e.client.Enqueue(report(i))
		for e.client.dropped.Load() != uint64(i+1) {
			time.Sleep(time.Millisecond)
		}
		e.clock.Step(time.Second)
	}
	e.scaler.set(func(s *fakeScaler) {
		// Waits of 1, 2, 4, 8, 16, 32 s, each jittered down to half: at most 11 sends.
		if s.refused < 3 || s.refused > 11 {
			t.Errorf("%d requests answered 403 in a minute of reports, want 3 to 11", s.refused)
		}
		s.status = 0
	})
	e.clock.Step(MaxForbiddenBackoff)
	e.client.Enqueue(report(60))
	<-e.scaler.received
}

func TestJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := jitter(time.Second)
		if d < time.Second/2 || d > time.Second {
			t.Fatalf("jitter(1s) = %v, outside [0.5s, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("jitter(1s) took only %d values in 1000 draws", len(seen))
	}
}

// waitTimer waits until the sender sleeps on the fake clock.
func waitTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("sender never waited")
		}
		time.Sleep(time.Millisecond)
	}
}
