// Command loadgen drives an open-loop HTTP load profile against a URL from
// inside the cluster and prints one JSON line of statistics per second, for
// the demo and the e2e scaling tests. Open loop: requests start on schedule
// whether or not earlier ones finished, as real clients of a model do, so a
// saturated server shows up as latency instead of a lower offered rate.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/inferscale/inferscale/internal/loadprofile"
)

// Second is the statistics line for one second of the run.
type Second struct {
	T         int     `json:"t"`
	Offered   float64 `json:"offered"`
	Sent      int     `json:"sent"`
	Completed int     `json:"completed"`
	Errors    int     `json:"errors"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	InFlight  int     `json:"in_flight"`
}

func main() {
	url := flag.String("url", "", "URL to send GET requests to")
	spec := flag.String("profile", "10s@5", "load profile: DURATION@RPS steps, comma-separated")
	maxInFlight := flag.Int("max-in-flight", 4000, "requests outstanding at most; beyond it a request counts as an error")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	flag.Parse()
	if *url == "" {
		log.Fatal("-url is required")
	}
	p, err := loadprofile.Parse(*spec)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	run(ctx, p, *url, *maxInFlight, *timeout, os.Stdout)
}

type result struct {
	latency time.Duration
	failed  bool
}

func run(ctx context.Context, p loadprofile.Profile, url string, maxInFlight int, timeout time.Duration, out io.Writer) {
	client := &http.Client{
		Timeout: timeout,
		// One connection per request, as from many independent clients: kube-proxy balances
		// connections, so pooled ones would pin the load to the replicas that existed first.
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true},
	}
	results := make(chan result, 4096)
	var inFlight sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	enc := json.NewEncoder(out)

	start := time.Now()
	var sec Second
	var latencies []float64
	nextStat := start.Add(time.Second)
	next := start
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			inFlight.Wait()
			return
		case r := <-results:
			record(&sec, &latencies, r)
			continue
		case now := <-ticker.C:
			rate, ok := p.RateAt(now.Sub(start))
			if !ok {
				inFlight.Wait()
				drain(results, &sec, &latencies)
				flush(enc, &sec, &latencies, len(sem))
				return
			}
			sec.Offered = rate
			// Fire every request whose scheduled time has come.
			for rate > 0 && !next.After(now) {
				select {
				case sem <- struct{}{}:
					sec.Sent++
					inFlight.Add(1)
					go func() {
						defer inFlight.Done()
						defer func() { <-sem }()
						results <- send(ctx, client, url)
					}()
				default:
					sec.Errors++
				}
				next = next.Add(time.Duration(float64(time.Second) / rate))
			}
			if rate == 0 {
				next = now
			}
			if !now.Before(nextStat) {
				sec.T = int(nextStat.Sub(start) / time.Second)
				flush(enc, &sec, &latencies, len(sem))
				nextStat = nextStat.Add(time.Second)
			}
		}
	}
}

func send(ctx context.Context, client *http.Client, url string) result {
	begin := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{failed: true}
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{latency: time.Since(begin), failed: true}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return result{latency: time.Since(begin), failed: err != nil || resp.StatusCode >= 500}
}

func record(sec *Second, latencies *[]float64, r result) {
	if r.failed {
		sec.Errors++
		return
	}
	sec.Completed++
	*latencies = append(*latencies, float64(r.latency)/float64(time.Millisecond))
}

func drain(results chan result, sec *Second, latencies *[]float64) {
	for {
		select {
		case r := <-results:
			record(sec, latencies, r)
		default:
			return
		}
	}
}

func flush(enc *json.Encoder, sec *Second, latencies *[]float64, inFlight int) {
	sort.Float64s(*latencies)
	sec.P50Ms = quantile(*latencies, 0.50)
	sec.P99Ms = quantile(*latencies, 0.99)
	sec.InFlight = inFlight
	if err := enc.Encode(sec); err != nil {
		fmt.Fprintln(os.Stderr, "write stats:", err)
	}
	*sec = Second{Offered: sec.Offered}
	*latencies = (*latencies)[:0]
}

// quantile of sorted values by nearest rank; 0 for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}
