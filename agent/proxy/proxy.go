// Package proxy is the agent's data path: a reverse proxy to the model on localhost that
// measures every request into a measure.Recorder and optionally limits concurrency. Plain
// HTTP/1.x requests take a synchronous fast path (h1.go); upgrades, gRPC and large or chunked
// uploads go through httputil.ReverseProxy.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/inferscale/inferscale/agent/measure"
)

// Protocol is what the model speaks on its port.
type Protocol string

const (
	// HTTP: HTTP/1.1 to the model; gRPC requests (which need HTTP/2) still go over h2c.
	HTTP Protocol = "http"
	// GRPC: everything goes to the model over h2c (HTTP/2 without TLS, prior knowledge).
	GRPC Protocol = "grpc"
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the model's address, e.g. http://127.0.0.1:8080.
	Upstream *url.URL
	Protocol Protocol
	// MaxConcurrency limits requests passed to the model at once; 0 means no limit.
	MaxConcurrency int
	// QueueSize bounds the requests waiting for a slot when MaxConcurrency is reached;
	// beyond it the agent answers 503 with Retry-After.
	QueueSize int
	// Forwarded is what becomes of the client's forwarding headers; default ForwardedStrip.
	Forwarded Forwarded
	Recorder  *measure.Recorder
	Log       logr.Logger
}

// Proxy is an http.Handler.
type Proxy struct {
	rp      *httputil.ReverseProxy
	h1      *h1Pool // the fast path; nil when the model speaks only gRPC
	rec     *measure.Recorder
	limit   *breaker
	fwd     Forwarded
	log     logr.Logger
	writers sync.Pool
}

// New returns a Proxy for o.
func New(o Options) *Proxy {
	p := &Proxy{rec: o.Recorder, log: o.Log, fwd: o.Forwarded}
	if p.fwd == "" {
		p.fwd = ForwardedStrip
	}
	if o.MaxConcurrency > 0 {
		p.limit = newBreaker(o.MaxConcurrency, o.QueueSize)
	}
	target := o.Upstream
	idle := max(o.MaxConcurrency, 1024)
	if o.Protocol != GRPC {
		p.h1 = newH1Pool(target.Host, idle)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // the model sees the Host the client sent
			p.fwd.setForwarded(pr.Out.Header, pr.In.Header, pr.In.RemoteAddr)
		},
		Transport:    newTransport(o.Protocol, idle),
		BufferPool:   bufferPool{},
		ErrorHandler: p.upstreamError,
		// Streams (SSE, chunked, gRPC) need no FlushInterval: ReverseProxy flushes every write
		// for text/event-stream and for responses without Content-Length.
	}
	p.writers.New = func() any { return new(responseWriter) }
	return p
}

// newTransport pools connections to the model: every request that is in flight at once keeps
// its connection for the next one instead of paying a new TCP handshake (the standard
// library's default keeps two idle connections per host).
func newTransport(proto Protocol, idle int) http.RoundTripper {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	h1 := &http.Transport{
		DialContext:            dialer.DialContext,
		MaxIdleConns:           idle,
		MaxIdleConnsPerHost:    idle,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass the client's Accept-Encoding and the body through as is
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
	}
	h2c := &http.Transport{
		DialContext:            dialer.DialContext,
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		Protocols:              new(http.Protocols),
	}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	if proto == GRPC {
		return h2c
	}
	return protocolSwitch{h1: h1, h2c: h2c}
}

// protocolSwitch sends gRPC over h2c and everything else over HTTP/1.1.
type protocolSwitch struct{ h1, h2c http.RoundTripper }

func (s protocolSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	if isGRPC(r) {
		return s.h2c.RoundTrip(r)
	}
	return s.h1.RoundTrip(r)
}

func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

type bufferPool struct{}

// buffers copy bodies. 8 KiB holds any token-stream chunk, and an open stream holds one for
// its whole life, so a thousand streams cost 8 MiB here.
var buffers = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// ServeHTTP proxies one request and records it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start, startNS := p.rec.Now()
	p.rec.InFlight.Up(startNS)

	rw := p.writers.Get().(*responseWriter)
	*rw = responseWriter{ResponseWriter: w, rec: p.rec, start: start}
	defer func() {
		end, endNS := p.rec.Now()
		// ReverseProxy aborts the handler with a panic when the response breaks after it
		// started; record that, then let net/http see the panic.
		aborted := recover()
		if rw.rejected {
			p.rec.Reject()
		} else {
			t := measure.Timing{Latency: rw.latency(end)}
			t.FirstByte, t.HasFirstByte = rw.timeToFirstByte(end)
			t.PerOutputToken, t.HasPerOutputToken = rw.timePerOutputToken()
			p.rec.Done(rw.class(aborted != nil, r.Context().Err() != nil), t)
		}
		p.rec.InFlight.Down(endNS)
		*rw = responseWriter{}
		p.writers.Put(rw)
		if aborted != nil {
			panic(aborted)
		}
	}()

	if r.Method == http.MethodConnect {
		// A model server is no forward proxy, and a tunnel would bypass measurement.
		rw.agentAnswered = true
		rw.status = http.StatusMethodNotAllowed
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		writeError(w, r, http.StatusMethodNotAllowed, "CONNECT is not proxied", "")
		return
	}
	dropH2CUpgrade(r)
	if p.limit != nil {
		release, err := p.limit.acquire(r.Context(), &p.rec.Queue, p.rec)
		if err != nil {
			rw.agentAnswered = true
			if errors.Is(err, errQueueFull) {
				rw.status, rw.rejected = http.StatusServiceUnavailable, true
				writeError(w, r, http.StatusServiceUnavailable, "agent queue full", "")
			} else {
				rw.status = statusClientClosed
			}
			return
		}
		defer release()
	}
	if p.h1 != nil && fastPathOK(r) && !isGRPC(r) {
		if err := p.forward(rw, r); err != nil {
			p.upstreamError(rw, r, err)
		}
		return
	}
	// ReverseProxy passes interim answers on and thereby lifts the transport's limit on their
	// heads; count them here, as the fast path does.
	interim := 0
	limit := &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error {
		if interim++; interim > MaxInterimResponses {
			return fmt.Errorf("model sent more than %d interim (1xx) answers", MaxInterimResponses)
		}
		return nil
	}}
	p.rp.ServeHTTP(rw, r.WithContext(httptrace.WithClientTrace(r.Context(), limit)))
}

// dropH2CUpgrade removes a request's offer to upgrade to h2c: after the switch every request
// of the connection would go to the model unseen, past measurement and the concurrency
// limit. The request itself is served as HTTP/1.1. Other upgrades (WebSocket) pass: one
// upgraded request is one measured request.
func dropH2CUpgrade(r *http.Request) {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "h2c") {
		return
	}
	r.Header.Del("Upgrade")
	r.Header.Del("HTTP2-Settings")
	var keep []string
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "upgrade") && !strings.EqualFold(t, "http2-settings") {
				keep = append(keep, t)
			}
		}
	}
	r.Header.Del("Connection")
	if len(keep) > 0 {
		r.Header.Set("Connection", strings.Join(keep, ", "))
	}
}

// statusClientClosed is nginx's status for a request the client gave up on; it counts as 4xx.
const statusClientClosed = 499

// upstreamError answers for a model that gave no response.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	rw, _ := w.(*responseWriter)
	if rw != nil {
		w = rw.ResponseWriter
		rw.agentAnswered = true
	}
	if r.Context().Err() != nil {
		if rw != nil {
			rw.status = statusClientClosed
		}
		return
	}
	status, msg := http.StatusBadGateway, "model closed the connection without a response"
	var ne net.Error
	switch {
	case isDialError(err):
		status, msg = http.StatusServiceUnavailable, "model is not accepting connections"
	case errors.As(err, &ne) && ne.Timeout():
		status, msg = http.StatusGatewayTimeout, "model did not answer in time"
	}
	if rw != nil {
		rw.transportError = true
	}
	p.log.V(1).Info("model gave no response", "method", r.Method, "path", r.URL.Path, "status", status, "err", err.Error())
	writeError(w, r, status, msg, err.Error())
}

// isDialError tells a model that is not listening (down, starting) from one that broke a
// connection it accepted.
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// gRPC status codes used in agent answers.
const (
	grpcUnavailable      = "14"
	grpcDeadlineExceeded = "4"
)

// writeError answers with a small JSON body, or for gRPC with a trailers-only response whose
// grpc-status matches the HTTP status.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg, detail string) {
	h := w.Header()
	if isGRPC(r) {
		code := grpcUnavailable
		if status == http.StatusGatewayTimeout {
			code = grpcDeadlineExceeded
		}
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", code)
		h.Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(status, msg, detail))
}

func errorBody(status int, msg, detail string) []byte {
	b, _ := json.Marshal(struct {
		Error  string `json:"error"`
		Detail string `json:"detail,omitempty"`
		Status int    `json:"status"`
	}{msg, detail, status})
	return append(b, '\n')
}

// Drain waits until no request is in flight or ctx ends; it is called after the server
// stopped accepting, to cover hijacked (WebSocket) connections net/http no longer tracks.
func (p *Proxy) Drain(ctx context.Context, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for p.rec.InFlight.Value() > 0 {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	return nil
}
