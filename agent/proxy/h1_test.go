package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
)

// TestForwardedHeadersByPolicy: over loopback, on the fast path (a small body) and the
// ReverseProxy path (a chunked one), the model sees the client's forwarding headers as each
// mode has them, and every other header as the client sent it.
func TestForwardedHeadersByPolicy(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "xff=%s|xfp=%s|real=%s|fwd=%s|ka=%s|custom=%s", strings.Join(r.Header.Values("X-Forwarded-For"), ";"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Real-IP"), r.Header.Get("Forwarded"), r.Header.Get("Keep-Alive"), r.Header.Get("X-Custom"))
	}))
	for mode, want := range map[Forwarded]string{
		"":                "xff=127.0.0.1|xfp=|real=|fwd=|ka=|custom=kept",
		ForwardedStrip:    "xff=127.0.0.1|xfp=|real=|fwd=|ka=|custom=kept",
		ForwardedAppend:   "xff=203.0.113.7, 198.51.100.1, 127.0.0.1|xfp=https|real=203.0.113.7|fwd=for=203.0.113.7|ka=|custom=kept",
		ForwardedPreserve: "xff=203.0.113.7, 198.51.100.1|xfp=https|real=203.0.113.7|fwd=for=203.0.113.7|ka=|custom=kept",
	} {
		f := newFixture(t, up, Options{Forwarded: mode})
		for _, body := range []func() io.Reader{
			func() io.Reader { return strings.NewReader("{}") },
			func() io.Reader { return io.MultiReader(strings.NewReader("{"), strings.NewReader("}")) },
		} {
			req, _ := http.NewRequest("POST", "http://"+f.addr+"/v1/completions", body())
			req.Header.Add("X-Forwarded-For", "203.0.113.7")
			req.Header.Add("X-Forwarded-For", "198.51.100.1")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Real-IP", "203.0.113.7")
			req.Header.Set("Forwarded", "for=203.0.113.7")
			req.Header.Set("Keep-Alive", "timeout=5")
			req.Header.Set("X-Custom", "kept")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			got := strings.ReplaceAll(string(b), ";", ", ") // one header line or several: the same list
			if got != want {
				t.Errorf("mode %q: model saw %q, want %q (chunked=%v)", mode, got, want, req.ContentLength < 0)
			}
		}
	}
}

// TestStalePooledConnection: the model closes a keep-alive connection after each answer
// without saying so; the next request must not fail on the dead pooled connection.
func TestStalePooledConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	closed := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				c.Close()
				closed <- struct{}{}
			}()
		}
	}()
	f := newFixture(t, ln.Addr().String(), Options{})
	for i := range 5 {
		method := "GET"
		if i%2 == 1 {
			method = "POST" // not replayable: must still not hit the dead connection
		}
		req, _ := http.NewRequest(method, "http://"+f.addr+"/", strings.NewReader(""))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, b)
		}
		<-closed // as an idle timeout would: the pooled connection is dead before it is reused
	}
	if conns.Load() != 5 {
		t.Errorf("%d connections to the model, want 5", conns.Load())
	}
}

// TestClientGoneCancelsModel: when the client leaves, the model's request ends too, so an
// LLM server stops generating for nobody.
func TestClientGoneCancelsModel(t *testing.T) {
	started, cancelled := make(chan struct{}), make(chan struct{})
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // as model servers do; net/http notices a disconnect after it
		close(started)
		<-r.Context().Done()
		close(cancelled)
	}))
	f := newFixture(t, up, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+f.addr+"/v1/completions", strings.NewReader(`{"prompt":"x"}`))
	go func() {
		<-started
		cancel()
	}()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("cancelled request succeeded")
	}
	<-cancelled // the model saw the disconnect
	waitIdle(t, f)
	if rep := f.collect(); rep.Requests.Status4xx != 1 {
		t.Errorf("requests %+v, want one 4xx (client gone)", rep.Requests)
	}
}

func TestFastPathAnswers(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			fmt.Fprint(w, "after hints")
		case "/trailer":
			w.Header().Set("Trailer", "X-Tokens")
			fmt.Fprint(w, "body")
			w.Header().Set("X-Tokens", "42")
		default:
			w.Header().Set("Content-Length", "5")
			fmt.Fprint(w, "hello")
		}
	}))
	f := newFixture(t, up, Options{})
	res, err := http.Head("http://" + f.addr + "/")
	if err != nil || res.StatusCode != 200 || res.ContentLength != 5 {
		t.Fatalf("HEAD: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Get("http://" + f.addr + "/empty")
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("204: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Get("http://" + f.addr + "/trailer")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Tokens") != "42" {
		t.Errorf("trailer answer %q, trailers %v", b, res.Trailer)
	}
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+f.addr+"/hints", nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "after hints" || len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" || res.Header.Get("Link") != "" {
		t.Errorf("early hints %q, answer %q, final Link %q", hints, b, res.Header.Get("Link"))
	}
	waitIdle(t, f)
	rep := f.collect()
	if rep.Requests.Status2xx != 4 || rep.TimeToFirstByte.Count() != 4 {
		t.Errorf("requests %+v, first bytes %d", rep.Requests, rep.TimeToFirstByte.Count())
	}
}

// TestH2CClientToHTTP1Model: a client speaking h2c reaches an HTTP/1.1-only model.
func TestH2CClientToHTTP1Model(t *testing.T) {
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto %d", r.ProtoMajor)
	}))
	f := newFixture(t, up, Options{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	res, err := (&http.Client{Transport: tr}).Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 2 || string(b) != "proto 1" {
		t.Errorf("client saw HTTP/%d %q, want HTTP/2 and a model on HTTP/1.1", res.ProtoMajor, b)
	}
}

// TestFastPathStreamsBody: a request body the fast path takes reaches the model as it comes,
// not after the agent has all of it.
func TestFastPathStreamsBody(t *testing.T) {
	gotFirst := make(chan struct{})
	up := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 3000)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprint(w, len(first)+len(rest))
	}))
	f := newFixture(t, up, Options{})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(make([]byte, 5000))
		<-gotFirst // the model has read part of the body before the client sent the rest
		_, _ = pw.Write(make([]byte, 5000))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+f.addr+"/", pr)
	req.ContentLength = 10000 // a known length: the fast path
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "10000" {
		t.Errorf("model read %s bytes, want 10000", b)
	}
}

// rawModel answers every request on its connections with answer(w), whatever it was asked.
func rawModel(t *testing.T, answer func(w io.Writer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				answer(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// A model that sends headers without end, or interim answers without end, gets the client a
// 502 from the agent instead of taking its memory; both paths (the fast path for a GET, the
// ReverseProxy for a chunked upload) bound them.
func TestMisbehavingModelHeadsAreBounded(t *testing.T) {
	endless := func(w io.Writer) {
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\n")
		line := "X-Junk: " + strings.Repeat("a", 1000) + "\r\n"
		for range 1000 { // 1 MB of headers, 16 times the limit
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	}
	// 1,000 interim answers of 1 kB each: past the count of the fast path and the bytes the
	// ReverseProxy's transport allows all 1xx heads together.
	interims := func(w io.Writer) {
		hint := "HTTP/1.1 103 Early Hints\r\nLink: </" + strings.Repeat("a", 1000) + ">\r\n\r\n"
		for range 1000 {
			if _, err := io.WriteString(w, hint); err != nil {
				return
			}
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
	for name, answer := range map[string]func(io.Writer){"endless headers": endless, "endless 1xx": interims} {
		for _, chunked := range []bool{false, true} {
			f := newFixture(t, rawModel(t, answer), Options{})
			var body io.Reader
			method := http.MethodGet
			if chunked {
				method, body = http.MethodPost, io.MultiReader(strings.NewReader("x"))
			}
			req, _ := http.NewRequest(method, "http://"+f.addr+"/", body)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s (chunked %v): %v", name, chunked, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadGateway {
				t.Errorf("%s (chunked %v): status %d, want 502", name, chunked, res.StatusCode)
			}
		}
	}
}
