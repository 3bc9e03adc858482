package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"

	"github.com/inferscale/inferscale/agent/measure"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// serve starts h on a loopback port with HTTP/1.1 and h2c, like the agent does.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type fixture struct {
	rec   *measure.Recorder
	proxy *Proxy
	addr  string // the agent
}

func newFixture(t testing.TB, upstream string, o Options) *fixture {
	t.Helper()
	o.Upstream = &url.URL{Scheme: "http", Host: upstream}
	if o.Protocol == "" {
		o.Protocol = HTTP
	}
	o.Recorder = measure.New(clock.RealClock{}, nil)
	o.Log = testr.NewWithInterface(t, testr.Options{})
	p := New(o)
	return &fixture{rec: o.Recorder, proxy: p, addr: serve(t, p)}
}

func (f *fixture) collect() reportv1.Report {
	var rep reportv1.Report
	f.rec.Collect(&rep)
	return rep
}

func TestHTTP1ManyConcurrent(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo-Host", r.Host)
		w.Header().Set("X-Forwarded-For-Seen", r.Header.Get("X-Forwarded-For"))
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
		}
	}))
	f := newFixture(t, up, Options{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 300}}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			res, err := client.Get(fmt.Sprintf("http://%s/?n=%d", f.addr, i))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := fmt.Sprintf("hello %d", i); string(b) != want || res.StatusCode != 200 {
				errs <- fmt.Errorf("got %d %q, want 200 %q", res.StatusCode, b, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	req, _ := http.NewRequest("GET", "http://"+f.addr+"/missing", nil)
	req.Host = "model.example"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("X-Echo-Host") != "model.example" || res.Header.Get("X-Forwarded-For-Seen") != "127.0.0.1" {
		t.Errorf("404 passthrough: %d host %q xff %q", res.StatusCode, res.Header.Get("X-Echo-Host"), res.Header.Get("X-Forwarded-For-Seen"))
	}
	res, _ = client.Get("http://" + f.addr + "/broken")
	res.Body.Close()

	rep := f.collect()
	if want := (reportv1.Requests{Status2xx: 300, Status4xx: 1, Status5xx: 1}); rep.Requests != want {
		t.Errorf("requests %+v, want %+v", rep.Requests, want)
	}
	if rep.Latency.Count() != 302 || rep.TimeToFirstByte.Count() != 302 || rep.TimePerOutputToken.Count() != 0 {
		t.Errorf("sketch counts %d/%d/%d, want 302, 302 and none per output token (no event stream)", rep.Latency.Count(), rep.TimeToFirstByte.Count(), rep.TimePerOutputToken.Count())
	}
	if rep.InFlight.Max < 1 {
		t.Errorf("in-flight max %v", rep.InFlight.Max)
	}
}

func TestSSEFirstEventBeforeStreamEnds(t *testing.T) {
	release := make(chan struct{})
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	f := newFixture(t, up, Options{})
	res, err := http.Get("http://" + f.addr + "/v1/completions")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	// The upstream holds the rest of the stream until we saw the first event: if the agent
	// buffered, this read would never return.
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if f.rec.InFlight.Value() != 1 {
		t.Errorf("in flight %d during the stream, want 1", f.rec.InFlight.Value())
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest %q", rest)
	}
	res.Body.Close()
	waitIdle(t, f)
	rep := f.collect()
	ttfb, _ := rep.TimeToFirstByte.Quantile(1)
	lat, _ := rep.Latency.Quantile(1)
	if rep.Requests.Status2xx != 1 || ttfb > lat {
		t.Errorf("requests %+v, ttfb %v latency %v", rep.Requests, ttfb, lat)
	}
	// Two events: one time per output token, the gap between them, within the latency.
	if tpot, ok := rep.TimePerOutputToken.Quantile(1); rep.TimePerOutputToken.Count() != 1 || !ok || tpot > lat {
		t.Errorf("time per output token: %d of %v, want 1 within the latency %v", rep.TimePerOutputToken.Count(), tpot, lat)
	}
}

// waitIdle waits until the proxy finished recording every request the client saw end; the
// handler records just after the last byte is written.
func waitIdle(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.proxy.Drain(ctx, time.Millisecond); err != nil {
		t.Fatalf("requests still in flight: %v", err)
	}
}

func TestLargeUploadStreamed(t *testing.T) {
	firstChunk := make(chan struct{})
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		buf := make([]byte, 1<<20)
		n, err := io.ReadFull(r.Body, buf)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		h.Write(buf[:n])
		close(firstChunk)
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%x", h.Sum(nil))
	}))
	f := newFixture(t, up, Options{})
	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		want.Write(chunk)
		_, _ = pw.Write(chunk)
		// The model has the first MiB before we send more: the body is streamed.
		<-firstChunk
		for i := range 63 {
			chunk[0] = byte(i)
			want.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	res, err := http.Post("http://"+f.addr+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(got) != fmt.Sprintf("%x", want.Sum(nil)) {
		t.Errorf("model hashed %s, want %x", got, want.Sum(nil))
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		// Echo what arrives, frames or not: the proxy must pass bytes both ways.
		_, _ = io.Copy(c, brw)
	}))
	f := newFixture(t, up, Options{})
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	for _, msg := range []string{"ping-1", "ping-2"} {
		fmt.Fprint(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	c.Close()
	waitIdle(t, f)
	rep := f.collect()
	if rep.Requests.Status2xx != 1 || rep.Latency.Count() != 1 {
		t.Errorf("requests %+v latency count %d", rep.Requests, rep.Latency.Count())
	}
}

func TestModelDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()
	f := newFixture(t, down, Options{})
	res, err := http.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 503 || err != nil || body.Status != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body.Error, "not accepting") {
		t.Errorf("got %d %+v (%v), want 503 JSON with Retry-After", res.StatusCode, body, err)
	}

	// gRPC clients get the matching status instead.
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC to a down model: %v, want Unavailable", err)
	}
	rep := f.collect()
	if rep.Requests.TransportErrors != 2 || rep.TimeToFirstByte.Count() != 0 {
		t.Errorf("requests %+v ttfb %d, want 2 transport errors and no first byte", rep.Requests, rep.TimeToFirstByte.Count())
	}
}

func TestModelResetsConnection(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	}))
	f := newFixture(t, up, Options{})
	res, err := http.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 502 {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
}

func TestGRPCUnaryAndServerStreaming(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	for _, proto := range []Protocol{GRPC, HTTP} {
		t.Run(string(proto), func(t *testing.T) {
			f := newFixture(t, ln.Addr().String(), Options{Protocol: proto})
			conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			hc := healthpb.NewHealthClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("unary: %v %v", res, err)
			}
			if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
				t.Fatalf("unary unknown service: %v, want NotFound", err)
			}

			svc := "model-" + string(proto)
			hs.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
			stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			// Each update must arrive while the stream stays open.
			for _, want := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING} {
				m, err := stream.Recv()
				if err != nil || m.Status != want {
					t.Fatalf("stream: %v %v, want %v", m, err, want)
				}
				hs.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
			}
			cancel()
			_, _ = stream.Recv()
			waitIdle(t, f)
			rep := f.collect()
			// OK, NotFound, and the stream the client cancelled (Canceled: a caller error).
			if want := (reportv1.Requests{Status2xx: 1, Status4xx: 2}); rep.Requests != want {
				t.Errorf("requests %+v, want %+v", rep.Requests, want)
			}
		})
	}
}

func TestConcurrencyLimitQueue(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		fmt.Fprint(w, "ok")
	}))
	f := newFixture(t, up, Options{MaxConcurrency: 1, QueueSize: 1})
	results := make(chan int, 2)
	get := func() {
		res, err := http.Get("http://" + f.addr + "/")
		if err != nil {
			results <- 0
			return
		}
		res.Body.Close()
		results <- res.StatusCode
	}
	go get()
	<-arrived // the first holds the only slot
	go get()
	for f.rec.Queue.Value() != 1 { // the second waits in the queue
		time.Sleep(time.Millisecond)
	}
	res, err := http.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "1" {
		t.Errorf("third request: %d Retry-After %q, want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	close(release)
	for range 2 {
		if code := <-results; code != 200 {
			t.Errorf("admitted request got %d", code)
		}
	}
	waitIdle(t, f)
	rep := f.collect()
	// The refusal is unserved demand, not a 5xx, and not in the latency sketch.
	if rep.Requests.Status2xx != 2 || rep.Requests.Status5xx != 0 || rep.Requests.Rejected != 1 || rep.Latency.Count() != 2 || rep.Queue.Max != 1 || rep.InFlight.Max != 3 {
		t.Errorf("requests %+v queue %+v in flight %+v", rep.Requests, rep.Queue, rep.InFlight)
	}
}

// CONNECT is answered 405 by the agent, never tunnelled to the model.
func TestConnectIsRefused(t *testing.T) {
	var reached atomic.Bool
	f := newFixture(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) })), Options{})
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") == "" || reached.Load() {
		t.Errorf("CONNECT: status %d, Allow %q, reached the model %v", res.StatusCode, res.Header.Get("Allow"), reached.Load())
	}
}

// An h2c upgrade offer is not passed on: the model answers the request as HTTP/1.1, so every
// later request of the connection still goes through the agent and is measured.
func TestH2CUpgradeIsNotPassedThrough(t *testing.T) {
	f := newFixture(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s", r.Header.Get("Upgrade"), r.Header.Get("HTTP2-Settings"), r.Header.Get("Connection"))
	})), Options{})
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "||" {
		t.Errorf("h2c offer: status %d, the model saw Upgrade|HTTP2-Settings|Connection = %q, want none", res.StatusCode, b)
	}
	if rep := f.collect(); rep.Requests.Status2xx != 1 {
		t.Errorf("requests %+v, want the one measured", rep.Requests)
	}
}

// FuzzRequestPath: any request a client can send is answered or refused without a crash,
// leaves nothing in flight, and never reaches the model as an h2c upgrade or a CONNECT.
func FuzzRequestPath(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nx-forwarded-for: 9.9.9.9\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	var bad atomic.Value
	model := serve(f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "h2c") || r.Method == http.MethodConnect {
			bad.Store(fmt.Sprintf("the model got %s with Upgrade %q", r.Method, r.Header.Get("Upgrade")))
		}
		// The default policy strips what a client claims about its address.
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" || r.Header.Get("X-Real-IP") != "" || r.Header.Get("Forwarded") != "" {
			bad.Store(fmt.Sprintf("the model got X-Forwarded-For %q, X-Real-IP %q, Forwarded %q", xff, r.Header.Get("X-Real-IP"), r.Header.Get("Forwarded")))
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Model", "1")
		fmt.Fprint(w, "ok")
	}))
	fx := newFixture(f, model, Options{MaxConcurrency: 4, QueueSize: 4})
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:1234"
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					t.Fatalf("panic serving %q: %v", raw, p)
				}
			}()
			fx.proxy.ServeHTTP(rec, req)
		}()
		if v := bad.Load(); v != nil {
			t.Fatalf("%s for %q", v, raw)
		}
		if req.Method == http.MethodConnect && rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("CONNECT answered %d", rec.Code)
		}
		if n := fx.rec.InFlight.Value(); n != 0 {
			t.Fatalf("%d requests still in flight after %q", n, raw)
		}
	})
}
