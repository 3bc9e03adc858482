package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fast path forwards plain HTTP/1.x requests to the model on the handler's own goroutine:
// write the request, read the answer, copy it. net/http's Transport (which ReverseProxy uses)
// hands every exchange between the handler and a read and a write goroutine per connection;
// on a loaded node those hand-offs are most of what a proxy adds. Everything the fast path does
// not take (upgrades, gRPC, h2c, Expect, trailers or bodies over maxFastBody) goes through
// ReverseProxy.

// maxFastBody bounds the request bodies the fast path takes. It writes the body before it
// reads the answer; a body this small fits the socket buffers even if the model answers
// early without reading it, so the write cannot wait for a reader that never comes. Inference
// requests (JSON prompts) are well below it.
const maxFastBody = 64 << 10

// idleTimeout drops pooled connections unused for longer; model servers close theirs sooner.
const idleTimeout = 90 * time.Second

type h1Pool struct {
	addr   string
	dialer net.Dialer
	max    int

	mu   sync.Mutex
	idle []*h1Conn // most recently used last
}

type h1Conn struct {
	net.Conn
	head     *headLimit // bounds what reading a response head may take from the connection
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

func newH1Pool(addr string, maxIdle int) *h1Pool {
	return &h1Pool{addr: addr, dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}, max: maxIdle}
}

// get returns a live pooled connection, or dials one; reused tells which.
func (p *h1Pool) get(ctx context.Context) (c *h1Conn, reused bool, err error) {
	for {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			c = p.idle[n-1]
			p.idle = p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		if c.alive() {
			return c, true, nil
		}
		c.Close()
		c = nil
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	lc := &headLimit{Conn: nc, left: -1}
	return &h1Conn{Conn: nc, head: lc, br: bufio.NewReaderSize(lc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, false, nil
}

// alive tells a pooled connection the model has not closed: nothing is readable on it yet.
func (c *h1Conn) alive() bool {
	return time.Since(c.lastUsed) <= idleTimeout && c.br.Buffered() == 0 && peekIdle(c.Conn)
}

func (p *h1Pool) put(c *h1Conn) {
	c.lastUsed = time.Now()
	p.mu.Lock()
	var evict *h1Conn
	if len(p.idle) >= p.max {
		evict = c
	} else {
		p.idle = append(p.idle, c)
		// The oldest connection leaves once it is too old, so a pool that grew under a
		// burst shrinks again.
		if old := p.idle[0]; time.Since(old.lastUsed) > idleTimeout {
			evict = old
			p.idle = p.idle[1:]
		}
	}
	p.mu.Unlock()
	if evict != nil {
		evict.Close()
	}
}

// fastPathOK tells whether the fast path can take r.
func fastPathOK(r *http.Request) bool {
	return r.ProtoMajor == 1 &&
		r.ContentLength >= 0 && r.ContentLength <= maxFastBody &&
		len(r.TransferEncoding) == 0 && len(r.Trailer) == 0 &&
		r.Header.Get("Upgrade") == "" && r.Header.Get("Expect") == ""
}

// errNoResponse is a failure before any byte of the model's answer: the agent answers it.
type errNoResponse struct{ err error }

func (e *errNoResponse) Error() string { return e.err.Error() }
func (e *errNoResponse) Unwrap() error { return e.err }

// forward proxies r on the fast path. It returns an *errNoResponse when the model gave no
// answer; after the answer started, a broken copy aborts the handler as ReverseProxy does.
func (p *Proxy) forward(w *responseWriter, r *http.Request) error {
	head := p.requestHead(r)
	var res *http.Response
	var c *h1Conn
	var stop func() bool
	for attempt := 0; ; attempt++ {
		conn, reused, err := p.h1.get(r.Context())
		if err != nil {
			return &errNoResponse{err}
		}
		// A client that goes away cancels the model's work too: closing the connection is
		// how an HTTP/1.1 server (vLLM, TGI, Triton) learns it.
		stop = context.AfterFunc(r.Context(), func() { conn.Close() })
		if res, err = conn.roundTrip(head, r, w.interim); err == nil {
			c = conn
			break
		}
		stop()
		conn.Close()
		var be *bodyError
		if errors.As(err, &be) {
			// The client broke off its own request.
			w.status, w.agentAnswered = statusClientClosed, true
			return nil
		}
		// A pooled connection the model closed just now. A request without a body can be
		// sent again if nothing reached the model (the write failed) or, like net/http, if
		// it is safe to repeat.
		if !reused || attempt > 0 || r.ContentLength > 0 || !(replayable(r) || isWriteError(err)) {
			return &errNoResponse{err}
		}
	}

	h := w.Header()
	copyResponseHeader(h, res.Header)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(res.StatusCode)

	flushEach := res.ContentLength == -1 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	bp := buffers.Get().(*[]byte)
	copyErr, upstreamErr := copyBody(w, res.Body, *bp, flushEach)
	buffers.Put(bp)
	res.Body.Close()
	if copyErr != nil || upstreamErr != nil {
		stop()
		c.Close()
		if upstreamErr != nil && r.Context().Err() == nil {
			p.log.V(1).Info("model broke off its answer", "path", r.URL.Path, "err", upstreamErr.Error())
		}
		panic(http.ErrAbortHandler) // the client must see a broken answer, not a short one
	}
	for k, vv := range res.Trailer {
		h[k] = vv
	}
	// Pool the connection only if the cancel hook can no longer close it under its next user.
	if stop() && !res.Close {
		p.h1.put(c)
	} else {
		c.Close()
	}
	return nil
}

// roundTrip writes the request, streaming r's body, and reads the head of the answer, handing
// interim (1xx) answers to interim.
func (c *h1Conn) roundTrip(head []byte, r *http.Request, interim func(*http.Response)) (*http.Response, error) {
	if _, err := c.bw.Write(head); err != nil {
		return nil, requestWriteError{err}
	}
	if r.ContentLength > 0 {
		if _, err := c.bw.ReadFrom(io.LimitReader(bodyReader{r.Body}, r.ContentLength)); err != nil {
			return nil, err
		}
		// Read on to EOF: net/http starts watching for the client leaving (and cancels r's
		// context) only once the body hit it.
		var one [1]byte
		_, _ = r.Body.Read(one[:])
	}
	if err := c.bw.Flush(); err != nil {
		return nil, requestWriteError{err}
	}
	// The heads of the answer, interim ones included, may take at most MaxResponseHeaderBytes
	// (plus what the reader had buffered) and MaxInterimResponses interim answers: a model
	// that sends headers without end must not take the agent's memory.
	c.head.left = MaxResponseHeaderBytes
	defer func() { c.head.left = -1 }()
	for n := 0; ; n++ {
		if n > MaxInterimResponses {
			return nil, fmt.Errorf("model sent more than %d interim (1xx) answers", MaxInterimResponses)
		}
		res, err := http.ReadResponse(c.br, r)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				return nil, fmt.Errorf("model's response headers exceed %d bytes", MaxResponseHeaderBytes)
			}
			return nil, err
		}
		if res.StatusCode >= 200 {
			return res, nil
		}
		if res.StatusCode == http.StatusSwitchingProtocols {
			res.Body.Close()
			return nil, errors.New("model switched protocols without an upgrade request")
		}
		res.Body.Close() // 1xx answers have no body
		interim(res)
	}
}

// MaxResponseHeaderBytes and MaxInterimResponses bound the head of a model's answer: every
// head on either path, and the interim answers before the final one.
const (
	MaxResponseHeaderBytes = 64 << 10
	MaxInterimResponses    = 5
)

var errHeadTooLarge = errors.New("response head too large")

// headLimit is the connection under an h1Conn's reader: while left is not negative, reads
// may take only that many more bytes.
type headLimit struct {
	net.Conn
	left int64
}

func (h *headLimit) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.Conn.Read(p)
	}
	if h.left == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.Conn.Read(p)
	h.left -= int64(n)
	return n, err
}

// bodyReader marks failures to read the client's body, to tell them from the model's.
type bodyReader struct{ io.Reader }

type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading the client's body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

type requestWriteError struct{ err error }

func (e requestWriteError) Error() string { return "writing request: " + e.err.Error() }
func (e requestWriteError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	var we requestWriteError
	return errors.As(err, &we)
}

func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// requestHead is the request line and headers the model receives: the client's, less
// hop-by-hop ones, with the forwarding headers as p.fwd has them.
func (p *Proxy) requestHead(r *http.Request) []byte {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if isHopByHop(k, conn) || !p.fwd.passes(k) {
			continue
		}
		if k == "Te" && !hasToken(vv, "trailers") {
			continue
		}
		for _, v := range vv {
			b = appendHeader(b, k, v)
		}
	}
	if !p.fwd.passes("X-Forwarded-For") {
		if xff := p.fwd.forwardedFor(r.Header["X-Forwarded-For"], r.RemoteAddr); xff != "" {
			b = appendHeader(b, "X-Forwarded-For", xff)
		}
	}
	if r.ContentLength > 0 || (r.ContentLength == 0 && bodyMethod(r.Method)) {
		b = appendHeader(b, "Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	return append(b, "\r\n"...)
}

func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	// net/http's server already refused CR and LF in header values.
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// hopHeaders are dropped in both directions (RFC 9110 7.6.1), as httputil.ReverseProxy does;
// Te: trailers is kept for the request.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true, // written from the framing the agent uses
}

func isHopByHop(k string, connection []string) bool {
	if hopHeaders[k] {
		return true
	}
	for _, v := range connection {
		for f := range strings.SplitSeq(v, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(f)) == k {
				return true
			}
		}
	}
	return false
}

func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, vv := range src {
		if k != "Content-Length" && isHopByHop(k, conn) {
			continue
		}
		dst[k] = vv
	}
}

// copyBody copies the answer, flushing every write when it is a stream. It tells a failed
// write to the client from a failed read from the model.
func copyBody(w http.ResponseWriter, body io.Reader, buf []byte, flushEach bool) (clientErr, upstreamErr error) {
	var rc *http.ResponseController
	if flushEach {
		rc = http.NewResponseController(w)
	}
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			if _, werr := w.Write(buf[:nr]); werr != nil {
				return werr, nil
			}
			if rc != nil {
				if err := rc.Flush(); err != nil {
					return err, nil
				}
			}
		}
		if rerr == io.EOF {
			return nil, nil
		}
		if rerr != nil {
			return nil, rerr
		}
	}
}
