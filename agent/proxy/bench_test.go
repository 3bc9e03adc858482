package proxy

import (
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkProxy is one request through the agent's data path to a loopback model, client and
// model included; compare with BenchmarkDirect.
func BenchmarkProxy(b *testing.B) {
	f := newFixture(b, serveB(b), Options{})
	benchGet(b, "http://"+f.addr+"/")
}

func BenchmarkDirect(b *testing.B) {
	benchGet(b, "http://"+serveB(b)+"/")
}

func serveB(b *testing.B) string {
	body := strings.Repeat("x", 256)
	return serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
}

func benchGet(b *testing.B, u string) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}

// BenchmarkBareReverseProxy is the floor the agent is measured against: the standard
// library's reverse proxy with its defaults, measuring nothing.
func BenchmarkBareReverseProxy(b *testing.B) {
	u, _ := url.Parse("http://" + serveB(b))
	benchGet(b, "http://"+serve(b, httputil.NewSingleHostReverseProxy(u))+"/")
}

// The Sequential variants send one request at a time: the latency a proxy adds, without
// queueing.
func BenchmarkSequentialDirect(b *testing.B) { benchSeq(b, "http://"+serveB(b)+"/") }

func BenchmarkSequentialBareReverseProxy(b *testing.B) {
	u, _ := url.Parse("http://" + serveB(b))
	benchSeq(b, "http://"+serve(b, httputil.NewSingleHostReverseProxy(u))+"/")
}

func BenchmarkSequentialProxy(b *testing.B) {
	f := newFixture(b, serveB(b), Options{})
	benchSeq(b, "http://"+f.addr+"/")
}

func benchSeq(b *testing.B, u string) {
	c := &http.Client{}
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}
