package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/scaler/auth"
	"github.com/inferscale/inferscale/scaler/window"
)

// podReviewer is a TokenReview fake: token "tok-<pod>" is bound to pod <pod> of namespace ai.
type podReviewer struct{}

func (podReviewer) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	out := tr.DeepCopy()
	pod := tr.Spec.Token[len("tok-"):]
	out.Status = authnv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{auth.Audience},
		User: authnv1.UserInfo{
			Username: "system:serviceaccount:ai:default",
			Extra:    map[string]authnv1.ExtraValue{auth.ExtraPodName: {pod}, auth.ExtraPodUID: {"uid-" + pod}},
		},
	}
	return out, nil
}

// floodReviewer is the API server's TokenReview as seen under a flood: "tok-<pod>" is pod
// <pod>'s token, anything else is refused; each review takes a while, and it records how
// many it ran and how many at once.
type floodReviewer struct {
	delay           time.Duration
	calls, inFlight atomic.Int64
	mu              sync.Mutex
	maxInFlight     int64
}

func (f *floodReviewer) Create(ctx context.Context, tr *authnv1.TokenReview, o metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	f.mu.Lock()
	f.maxInFlight = max(f.maxInFlight, n)
	f.mu.Unlock()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if strings.HasPrefix(tr.Spec.Token, "tok-") {
		return podReviewer{}.Create(ctx, tr, o)
	}
	out := tr.DeepCopy()
	out.Status.Error = "invalid bearer token"
	return out, nil
}

// loopback serves the handler over TLS on 127.0.0.1 with the report server's timeouts.
type loopback struct {
	srv      *httptest.Server
	reviewer *floodReviewer
	store    *window.Store
}

func newLoopback(t testing.TB, opts Options) *loopback {
	t.Helper()
	l := &loopback{reviewer: &floodReviewer{delay: time.Millisecond}, store: window.NewStore(clock.RealClock{})}
	l.store.Configure(key, window.Config{Window: time.Minute, Latency: true})
	opts.Auth = auth.New(l.reviewer, clock.RealClock{}, auth.Options{MaxConcurrentReviews: 4})
	opts.Attributor, opts.Store = fakeAttributor{}, l.store
	opts.IsLeader, opts.Clock = func() bool { return true }, clock.RealClock{}
	opts.Metrics, opts.Log = NewMetrics(prometheus.NewRegistry()), logr.Discard()
	mux := http.NewServeMux()
	mux.Handle(Path, New(opts))
	l.srv = httptest.NewUnstartedServer(mux)
	l.srv.Config = newHTTPServer(mux)
	l.srv.StartTLS()
	t.Cleanup(l.srv.Close)
	return l
}

// clientFrom is a client whose connections come from the loopback address local: every
// 127.0.0.0/8 address is this machine, so two of them are two sources to the server.
func (l *loopback) clientFrom(local string, conns int) *http.Client {
	c := l.srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr.DialContext = d.DialContext
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func post(c *http.Client, url, token string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url+Path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// liveReport is validReport for the real clock: its interval is the last second.
func liveReport(pod string) *reportv1.Report {
	r := validReport(pod)
	now := time.Now()
	r.Interval = reportv1.Interval{Start: now.Add(-time.Second), End: now}
	return r
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestLegitimateReportsFlowDuringAFlood: 10,000 requests with random tokens from one source
// while 20 running agents report, and one new pod's agent sends its first report. Every
// report of the running agents is accepted at the first try (their tokens are cached and
// never wait for a review), the new pod gets in (after at most a few retries), the flood
// costs the API server at most the source's budget of reviews, never more than the cap at
// once, and no bogus request is accepted.
func TestLegitimateReportsFlowDuringAFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("short: 10,000 requests over loopback")
	}
	const sourceBurst = 40
	l := newLoopback(t, Options{SourceRate: 20, SourceBurst: sourceBurst})
	agents, attacker := l.clientFrom("127.0.0.1", 20), l.clientFrom("127.0.0.2", 32)

	const pods = 20
	bodies := make([][]byte, pods)
	for i := range bodies {
		bodies[i] = encode(t, liveReport(fmt.Sprint("pod-", i)))
		if code, err := post(agents, l.srv.URL, fmt.Sprint("tok-pod-", i), bodies[i]); err != nil || code != 202 {
			t.Fatalf("priming pod-%d: %d %v", i, code, err)
		}
	}
	reviewsBefore := l.reviewer.calls.Load()
	start := time.Now()

	var wg sync.WaitGroup
	var bogusAccepted, bogusAnswered atomic.Int64
	codes := sync.Map{}
	work := make(chan struct{}, 10_000)
	for range 10_000 {
		work <- struct{}{}
	}
	close(work)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				code, err := post(attacker, l.srv.URL, randomToken(), bodies[0])
				if err != nil {
					continue
				}
				bogusAnswered.Add(1)
				n, _ := codes.LoadOrStore(code, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
				if code == 202 {
					bogusAccepted.Add(1)
				}
			}
		}()
	}

	// The running agents report through the flood: 5 reports each, within the per-pod burst.
	var refusedLegit atomic.Int64
	var lw sync.WaitGroup
	for i := range pods {
		lw.Add(1)
		go func() {
			defer lw.Done()
			for range 5 {
				code, err := post(agents, l.srv.URL, fmt.Sprint("tok-pod-", i), bodies[i])
				if err != nil || code != 202 {
					refusedLegit.Add(1)
					t.Errorf("pod-%d during the flood: %d %v", i, code, err)
				}
			}
		}()
	}
	// A new pod: its token needs a review, so it may meet a busy answer and retry.
	newBody := encode(t, liveReport("new"))
	newAccepted := false
	for try := 0; try < 50 && !newAccepted; try++ {
		code, err := post(agents, l.srv.URL, "tok-new", newBody)
		newAccepted = err == nil && code == 202
		if !newAccepted {
			time.Sleep(20 * time.Millisecond) // Retry-After, shortened
		}
	}
	lw.Wait()
	wg.Wait()
	elapsed := time.Since(start)

	if !newAccepted {
		t.Error("a new pod's first report was never accepted during the flood")
	}
	if n := bogusAccepted.Load(); n != 0 {
		t.Errorf("%d bogus requests accepted", n)
	}
	if n := bogusAnswered.Load(); n != 10_000 {
		t.Errorf("%d of 10000 bogus requests answered", n)
	}
	codes.Range(func(k, v any) bool {
		switch k.(int) {
		case 401, 429, 503:
		default:
			t.Errorf("bogus requests answered %d: %d times", k, v.(*atomic.Int64).Load())
		}
		return true
	})
	// Reviews the flood caused: the source's burst and rate over the flood, and the new pod's.
	reviews := l.reviewer.calls.Load() - reviewsBefore
	if limit := int64(sourceBurst + 20*elapsed.Seconds() + 1 + 1); reviews > limit {
		t.Errorf("%d TokenReviews in %v, more than the source's budget %d", reviews, elapsed, limit)
	}
	if l.reviewer.maxInFlight > 4 {
		t.Errorf("%d TokenReviews at once, more than the cap of 4", l.reviewer.maxInFlight)
	}
	snap, _ := l.store.Window(key, time.Minute)
	for i := range pods {
		if got := snap.Pods[fmt.Sprint("pod-", i)].Requests; got != 6*3 {
			t.Errorf("pod-%d: %d requests stored, want 18 (6 reports of 3)", i, got)
		}
	}
	t.Logf("flood of 10000 in %v: %d reviews; answers %v", elapsed, reviews, func() map[int]int64 {
		m := map[int]int64{}
		codes.Range(func(k, v any) bool { m[k.(int)] = v.(*atomic.Int64).Load(); return true })
		return m
	}())
}

// TestStalledBodyIsCut: a client that sends its headers and never its body loses its
// connection once the server's read timeout passes, instead of holding it.
func TestStalledBodyIsCut(t *testing.T) {
	if testing.Short() {
		t.Skip("short: waits for the read timeout")
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{", Path)
	// Whatever the server answers, the connection must end: a read returns EOF or a reset.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection with a stalled body was still open after a minute")
	}
}

// BenchmarkLoopback is the ingestion load test: agents POST real reports over HTTPS with
// keep-alive to the handler behind an httptest TLS server, with the real token cache (a fake
// TokenReview behind it), the real store and a fake attribution. Client and server share the
// machine's cores, so reports/s/core understates what a scaler alone sustains.
func BenchmarkLoopback(b *testing.B) {
	l := newLoopback(b, Options{Rate: 1e9, Burst: 1e9})
	benchmarkAgents(b, l.clientFrom("127.0.0.1", 256), l.srv.URL, nil)
}

// benchmarkAgents runs 8 agents per core, each its own pod, until b.N reports were accepted,
// and reports the rate; bogus, if not nil, counts requests answered meanwhile to others.
func benchmarkAgents(b *testing.B, agents *http.Client, url string, bogus *atomic.Int64) {
	var next atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		pod := fmt.Sprintf("pod-%d", next.Add(1))
		body := encode(b, liveReport(pod))
		// The first report's token needs a review; with all agents starting at once some
		// find every review slot taken and retry, as agents do.
		for code := 0; code != http.StatusAccepted; {
			var err error
			if code, err = post(agents, url, "tok-"+pod, body); err != nil {
				b.Error(err)
				return
			}
		}
		for pb.Next() {
			code, err := post(agents, url, "tok-"+pod, body)
			if err != nil || code != http.StatusAccepted {
				b.Errorf("status %d, %v", code, err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	perSec := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(perSec, "reports/s")
	b.ReportMetric(perSec/float64(runtime.GOMAXPROCS(0)), "reports/s/core")
	if bogus != nil {
		b.ReportMetric(float64(bogus.Load())/elapsed.Seconds(), "bogus/s")
	}
}

// BenchmarkLoopbackUnderFlood is BenchmarkLoopback while 16 clients from another source send
// requests with random tokens as fast as they can: the legitimate reports/s, and how many
// bogus requests the server answered meanwhile.
func BenchmarkLoopbackUnderFlood(b *testing.B) {
	l := newLoopback(b, Options{Rate: 1e9, Burst: 1e9})
	attacker := l.clientFrom("127.0.0.2", 16)
	stop := make(chan struct{})
	var bogus atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := encode(b, liveReport("x"))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := post(attacker, l.srv.URL, randomToken(), body); err == nil {
					bogus.Add(1)
				}
			}
		}()
	}
	benchmarkAgents(b, l.clientFrom("127.0.0.1", 256), l.srv.URL, &bogus)
	close(stop)
	wg.Wait()
}
