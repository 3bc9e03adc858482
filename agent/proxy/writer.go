package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/inferscale/inferscale/agent/measure"
)

// responseWriter notes the status, the time of the first body byte and, for an event stream,
// when its events went out. It implements only what it must observe; Flush and the rest reach
// the server's writer through Unwrap, which http.ResponseController (used by ReverseProxy)
// follows.
type responseWriter struct {
	http.ResponseWriter
	rec   *measure.Recorder
	start time.Time

	status       int
	firstByte    time.Duration
	gotFirstByte bool
	// stream: the body is text/event-stream, whose events (one token each for an OpenAI-style
	// server) end at a blank line; see scanEvents.
	stream                bool
	events                int
	firstEvent, lastEvent time.Duration
	lineText              bool // the current line so far has a byte other than CR
	comment               bool // the current line is a comment
	pending               bool // the current event has a field line
	doneLine              bool // the current event's last line is "data: [DONE]", no token
	upgraded              bool
	agentAnswered         bool // the agent wrote the response (queue full, model gave none)
	rejected              bool // the agent refused it: its queue was full
	transportError        bool
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.gotFirstByte && len(b) > 0 {
		w.markFirstByte()
		w.stream = isEventStream(w.Header().Get("Content-Type"))
	}
	if w.stream {
		w.scanEvents(b)
	}
	return w.ResponseWriter.Write(b)
}

func isEventStream(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// scanEvents counts the events that end in b and notes when the first and the last went out.
// An event ends at an empty line after at least one field line; comment lines (":", as
// keep-alives) make none, and the stream's final "data: [DONE]" carries no token (counted
// when that line arrives in one write).
func (w *responseWriter) scanEvents(b []byte) {
	ended := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		whole := !w.lineText
		if text := bytes.Trim(seg, "\r"); len(text) > 0 {
			if whole {
				w.comment = text[0] == ':'
			}
			w.lineText = true
		}
		if i < 0 {
			break
		}
		switch {
		case w.lineText && !w.comment:
			w.pending = true
			w.doneLine = whole && bytes.Equal(bytes.TrimSuffix(seg, cr), doneEvent)
		case !w.lineText && w.pending:
			if !w.doneLine {
				ended++
			}
			w.pending, w.doneLine = false, false
		}
		w.lineText, w.comment = false, false
		b = b[i+1:]
	}
	if ended == 0 {
		return
	}
	now, _ := w.rec.Now()
	at := now.Sub(w.start)
	if w.events == 0 {
		w.firstEvent = at
	}
	w.events += ended
	w.lastEvent = at
}

var cr, doneEvent = []byte("\r"), []byte("data: [DONE]")

// timePerOutputToken is, for an event stream of two events or more, the time from its first
// event to its last over the events between them.
func (w *responseWriter) timePerOutputToken() (time.Duration, bool) {
	if w.events < 2 {
		return 0, false
	}
	return (w.lastEvent - w.firstEvent) / time.Duration(w.events-1), true
}

// interim passes on a 1xx answer of the model (103 Early Hints) with its own headers.
func (w *responseWriter) interim(res *http.Response) {
	h := w.Header()
	for k, vv := range res.Header {
		h[k] = vv
	}
	w.WriteHeader(res.StatusCode)
	for k := range res.Header {
		delete(h, k)
	}
}

func (w *responseWriter) markFirstByte() {
	now, _ := w.rec.Now()
	w.firstByte, w.gotFirstByte = now.Sub(w.start), true
	if w.status == 0 {
		w.status = http.StatusOK
	}
}

// Hijack is how ReverseProxy completes a protocol upgrade (WebSocket): it writes the 101
// itself on the hijacked connection, so this is where the writer sees it.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status, w.upgraded = http.StatusSwitchingProtocols, true
		w.markFirstByte()
	}
	return c, brw, err
}

// class is the request's outcome. A response that broke off is the client's doing (4xx) when
// the client went away, else the model's (a transport error). For gRPC the grpc-status (a
// trailer, or a header in a trailers-only response) decides, as every gRPC answer is a 200.
func (w *responseWriter) class(aborted, clientGone bool) measure.Class {
	switch {
	case aborted && clientGone:
		return measure.Class4xx
	case w.transportError || (aborted && !w.upgraded):
		return measure.ClassTransportError
	case w.status == 0:
		// The handler returned without writing: net/http sends 200 with an empty body.
		return measure.Class2xx
	}
	if !w.agentAnswered && w.status == http.StatusOK {
		h := w.ResponseWriter.Header()
		if code, ok := grpcStatus(h); ok {
			return grpcClass(code)
		}
	}
	return measure.ClassOf(w.status)
}

// latency is the request's duration; for an upgrade it is the handshake, not the session.
func (w *responseWriter) latency(end time.Time) time.Duration {
	if w.upgraded {
		return w.firstByte
	}
	return end.Sub(w.start)
}

// timeToFirstByte is when the first body byte went out; a model response without a body
// (204, HEAD, a trailers-only gRPC answer) went out whole at the end. The agent's own
// answers have none.
func (w *responseWriter) timeToFirstByte(end time.Time) (time.Duration, bool) {
	switch {
	case w.gotFirstByte:
		return w.firstByte, true
	case w.agentAnswered || w.status == 0:
		return 0, false
	}
	return end.Sub(w.start), true
}

func grpcStatus(h http.Header) (string, bool) {
	if v := h["Grpc-Status"]; len(v) > 0 {
		return v[0], true
	}
	if v := h[http.TrailerPrefix+"Grpc-Status"]; len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// grpcClass maps a gRPC status code to the class of the HTTP status gRPC's own HTTP mapping
// would give it: caller errors are 4xx, server errors 5xx.
func grpcClass(code string) measure.Class {
	switch code {
	case "0": // OK
		return measure.Class2xx
	case "1", "3", "5", "6", "7", "9", "11", "16": // Canceled, InvalidArgument, NotFound, AlreadyExists, PermissionDenied, FailedPrecondition, OutOfRange, Unauthenticated
		return measure.Class4xx
	default: // Unknown, DeadlineExceeded, ResourceExhausted, Aborted, Unimplemented, Internal, Unavailable, DataLoss
		return measure.Class5xx
	}
}
