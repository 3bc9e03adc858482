// Command modelserver stands in for an LLM inference server in e2e tests. It serves
// completions with a fixed service time on a limited number of slots, so that latency and the
// waiting queue grow with load as they do on a real model server; it streams tokens as
// server-sent events, and exports vLLM's gauges of the requests waiting for a slot and holding
// one (vllm:num_requests_waiting, vllm:num_requests_running, labelled model_name as vLLM
// labels them). It takes vLLM's --model and --port flags and answers vLLM's /health, so a
// vLLM Deployment runs it with only its image changed; it loads no model.
//
// With -get URL... it is instead a one-shot HTTP client that prints the response bodies, so
// tests can send requests from inside a pod without any other image.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen", envOr("LISTEN", ":8000"), "address to serve on (env LISTEN)")
	port := flag.Int("port", 0, "vLLM's flag: port to serve on, overrides -listen")
	modelName := flag.String("model", "modelserver", "vLLM's flag: the model's name, the model_name label of the gauges")
	serviceTime := flag.Duration("service-time", envDuration("SERVICE_TIME", 50*time.Millisecond), "time one request holds a slot (env SERVICE_TIME)")
	slots := flag.Int("concurrency", envInt("CONCURRENCY", 4), "requests served at once; the rest wait (env CONCURRENCY)")
	tokens := flag.Int("tokens", envInt("TOKENS", 8), "tokens per streamed response, spread over the service time (env TOKENS)")
	get := flag.Bool("get", false, "client mode: GET each URL argument, print the bodies, exit non-zero unless all answer 200")
	retryFor := flag.Duration("retry-for", 0, "client mode: keep retrying a URL that cannot be connected to for this long (a new Service's rules take a moment to reach kube-proxy)")
	flag.Parse()

	if *get {
		if flag.NArg() == 0 {
			log.Fatal("-get needs at least one URL argument")
		}
		for _, url := range flag.Args() {
			if err := fetchRetrying(url, *retryFor, os.Stdout); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	if *slots < 1 || *tokens < 1 {
		log.Fatalf("-concurrency and -tokens must be at least 1")
	}
	if *port != 0 {
		*listen = ":" + strconv.Itoa(*port)
	}
	s := newServer(*modelName, *serviceTime, *slots, *tokens)
	srv := &http.Server{Addr: *listen, Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("shutdown: %v", err)
		}
	}()
	log.Printf("modelserver on %s: service time %s, %d slots, %d tokens", *listen, *serviceTime, *slots, *tokens)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

type server struct {
	serviceTime time.Duration
	tokens      int
	slots       chan struct{}
	waiting     prometheus.Gauge
	running     prometheus.Gauge
	registry    *prometheus.Registry
}

func newServer(modelName string, serviceTime time.Duration, slots, tokens int) *server {
	labels := prometheus.Labels{"model_name": modelName}
	s := &server{
		serviceTime: serviceTime,
		tokens:      tokens,
		slots:       make(chan struct{}, slots),
		// vLLM's semantics: waiting are requests admitted but not yet scheduled on the engine,
		// running those it is computing; a request is in exactly one of them until it ends.
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:num_requests_waiting",
			Help: "Number of requests waiting to be processed.", ConstLabels: labels}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:num_requests_running",
			Help: "Number of requests in model execution batches.", ConstLabels: labels}),
		registry: prometheus.NewRegistry(),
	}
	s.registry.MustRegister(s.waiting, s.running)
	return s
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/completions", s.complete)
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/health", ok) // vLLM's
	mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	return mux
}

// complete answers one completion once a slot is free: as one JSON object, or with
// ?stream=true (or "stream": true in a JSON body) as server-sent events, one per token.
func (s *server) complete(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream") == "true"
	if r.Method == http.MethodPost {
		var body struct {
			Stream bool `json:"stream"`
		}
		// A body that is not JSON is still a request; only its stream field matters here.
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
		stream = stream || body.Stream
	}

	s.waiting.Inc()
	select {
	case s.slots <- struct{}{}:
		s.waiting.Dec()
	case <-r.Context().Done():
		s.waiting.Dec()
		return
	}
	s.running.Inc()
	defer func() {
		<-s.slots
		s.running.Dec()
	}()

	perToken := s.serviceTime / time.Duration(s.tokens)
	if !stream {
		time.Sleep(s.serviceTime)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "text_completion", "choices": []map[string]any{{"text": "ok", "index": 0}}})
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for i := 0; i < s.tokens; i++ {
		time.Sleep(perToken)
		if _, err := fmt.Fprintf(w, "data: {\"choices\":[{\"text\":\"tok%d\",\"index\":0}]}\n\n", i); err != nil {
			return
		}
		flusher.Flush()
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// fetchRetrying GETs url, retrying connection failures (never error responses) until retryFor
// has passed.
func fetchRetrying(url string, retryFor time.Duration, out io.Writer) error {
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(retryFor)
	for {
		resp, err := client.Get(url)
		if err == nil {
			return printResponse(url, resp, out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("get %s: %w", url, err)
		}
		log.Printf("get %s: %v; retrying", url, err)
		time.Sleep(200 * time.Millisecond)
	}
}

func printResponse(url string, resp *http.Response, out io.Writer) error {
	defer resp.Body.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %s", url, resp.Status)
	}
	return nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func envInt(key string, fallback int) int {
	v, err := strconv.Atoi(os.Getenv(key))
	if err != nil {
		return fallback
	}
	return v
}

func envDuration(key string, fallback time.Duration) time.Duration {
	v, err := time.ParseDuration(os.Getenv(key))
	if err != nil {
		return fallback
	}
	return v
}
