package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The gauges read as vLLM's do: with one slot and three requests, one runs and two wait;
// once they are done neither counts them.
func TestGaugesHaveVLLMSemantics(t *testing.T) {
	s := newServer("llama", 300*time.Millisecond, 1, 1)
	srv := httptest.NewServer(s.routes())
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{}, 3)
	for range 3 {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/completions", nil)
			if res, err := srv.Client().Do(req); err == nil {
				res.Body.Close()
			}
			done <- struct{}{}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := scrape(t, srv.URL)
		if gauge(t, f, "vllm:num_requests_waiting") == 2 && gauge(t, f, "vllm:num_requests_running") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never 2 waiting and 1 running: %v", f)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		<-done
	}
	f := scrape(t, srv.URL)
	if w, r := gauge(t, f, "vllm:num_requests_waiting"), gauge(t, f, "vllm:num_requests_running"); w != 0 || r != 0 {
		t.Errorf("after the requests: waiting %v, running %v, want 0 and 0", w, r)
	}
	if got := f["vllm:num_requests_waiting"].GetMetric()[0].GetLabel(); len(got) != 1 || got[0].GetName() != "model_name" || got[0].GetValue() != "llama" {
		t.Errorf("labels %v, want model_name=llama", got)
	}
	for _, path := range []string{"/health", "/healthz"} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, res, err)
		}
		if res != nil {
			res.Body.Close()
		}
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	f, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func gauge(t *testing.T, f map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	mf, ok := f[name]
	if !ok || mf.GetType() != dto.MetricType_GAUGE || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: not one gauge series: %v", name, mf)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}
