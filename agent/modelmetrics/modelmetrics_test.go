package modelmetrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

const vllmExposition = `# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama"} 3.0
vllm:num_requests_waiting{engine="1",model_name="llama"} 2.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="llama"} 0.7
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="0.3",model_name="llama"} 1.0
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="llama"} 2.0
vllm:e2e_request_latency_seconds_count{model_name="llama"} 2.0
vllm:e2e_request_latency_seconds_sum{model_name="llama"} 0.9
`

func TestScrapeVLLMPreset(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(vllmExposition))
	}))
	defer srv.Close()
	names, err := agentv1.ParseModelMetrics("vllm")
	if err != nil {
		t.Fatal(err)
	}
	s := &Scraper{URL: srv.URL + "/metrics", Names: names, Client: srv.Client()}
	res, err := s.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// vllm:num_requests_running is not exported: absent, not zero, and said so.
	got := res.Values
	want := map[string]float64{"vllm:num_requests_waiting": 5, "vllm:kv_cache_usage_perc": 0.6}
	if len(got) != len(want) || got["vllm:num_requests_waiting"] != 5 || got["vllm:kv_cache_usage_perc"] < 0.5999 || got["vllm:kv_cache_usage_perc"] > 0.6001 {
		t.Errorf("got %v, want %v", got, want)
	}
	if want := map[string]string{"vllm:num_requests_running": reportv1.ScrapeNotExported}; !reflect.DeepEqual(res.Missing, want) {
		t.Errorf("missing %v, want %v", res.Missing, want)
	}
}

func TestScrapeTritonAndTGI(t *testing.T) {
	body := "nv_inference_pending_request_count{model=\"a\",version=\"1\"} 4\nnv_inference_pending_request_count{model=\"b\",version=\"1\"} 1\n" +
		"# TYPE tgi_queue_size gauge\ntgi_queue_size 7\ntgi_batch_current_size 2\ntgi_batch_current_size{shard=\"1\"} NaN\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer srv.Close()
	names, err := agentv1.ParseModelMetrics("triton, tgi")
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Scraper{URL: srv.URL, Names: names, Client: srv.Client()}).Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"nv_inference_pending_request_count": 5, "tgi_queue_size": 7, "tgi_batch_current_size": 2}
	if !reflect.DeepEqual(res.Values, want) || len(res.Missing) != 0 {
		t.Errorf("got %v (missing %v), want %v", res.Values, res.Missing, want)
	}
}

func TestScrapeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			_, _ = w.Write([]byte("tgi_queue_size not-a-number\n"))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	for _, path := range []string{"/bad", "/missing"} {
		s := &Scraper{URL: srv.URL + path, Names: []string{"tgi_queue_size"}, Client: srv.Client()}
		if _, err := s.Scrape(context.Background()); err == nil {
			t.Errorf("%s: no error", path)
		}
	}
}

// Every named metric is either a value or missing with why: not exported, no number (NaN,
// or a TYPE line without samples), or a histogram or summary (whose samples have other names).
func TestScrapeSaysWhyAGaugeIsMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(vllmExposition +
			"# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc NaN\n" +
			"# TYPE vllm:num_preemptions gauge\n" +
			"# TYPE vllm:time_to_first_token_seconds summary\nvllm:time_to_first_token_seconds{quantile=\"0.5\"} 0.2\nvllm:time_to_first_token_seconds_count 3\n"))
	}))
	defer srv.Close()
	names := []string{"vllm:num_requests_waiting", "vllm:num_requests_swapped", "vllm:gpu_cache_usage_perc",
		"vllm:num_preemptions", "vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds"}
	res, err := (&Scraper{URL: srv.URL, Names: names, Client: srv.Client()}).Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"vllm:num_requests_waiting": 5}; !reflect.DeepEqual(res.Values, want) {
		t.Errorf("values %v, want %v", res.Values, want)
	}
	want := map[string]string{
		"vllm:num_requests_swapped":        reportv1.ScrapeNotExported,
		"vllm:gpu_cache_usage_perc":        reportv1.ScrapeNoValue,
		"vllm:num_preemptions":             reportv1.ScrapeNoValue,
		"vllm:e2e_request_latency_seconds": reportv1.ScrapeWrongType,
		"vllm:time_to_first_token_seconds": reportv1.ScrapeWrongType,
	}
	if !reflect.DeepEqual(res.Missing, want) {
		t.Errorf("missing %v, want %v", res.Missing, want)
	}
}
