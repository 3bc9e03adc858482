// Command bench compares, from one run on this machine, three ways to reach a model server on
// loopback: directly, through a bare httputil.ReverseProxy (the floor of every Go sidecar), and
// through inferscale-agent with all its measurement on. Targets run in alternating rounds so
// drift in the machine's load hits all three alike. `make bench` runs it:
//
//	go run ./agent/internal/bench
//
// The model server and the bare proxy are this program re-executed with -role; the agent is
// built from ./cmd/inferscale-agent.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	role := flag.String("role", "", "internal: upstream or bareproxy")
	port := flag.Int("port", 0, "internal: port to listen on")
	upstream := flag.String("upstream", "", "internal: bare proxy target")
	rounds := flag.Int("rounds", 8, "alternating rounds per measurement")
	openFor := flag.Duration("open-loop", 1500*time.Millisecond, "duration of one open-loop round per target")
	satFor := flag.Duration("saturation", time.Second, "duration of one saturation round per target")
	flag.Parse()
	var err error
	switch *role {
	case "upstream":
		err = serveUpstream(*port)
	case "bareproxy":
		err = serveBareProxy(*port, *upstream)
	default:
		err = run(*rounds, *openFor, *satFor)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// body is a small completion-sized answer.
var body = []byte(strings.Repeat("x", 256))

func serveUpstream(port int) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	// /sse: the first token at once, the rest of the stream after a pause.
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: token-1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-time.After(5 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	// /hold: one event, then open until the client leaves.
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: open\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	return http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", port), mux)
}

func serveBareProxy(port int, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	return http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", port), httputil.NewSingleHostReverseProxy(u))
}

type target struct {
	name string
	base string
}

func run(rounds int, openFor, satFor time.Duration) error {
	dir, err := os.MkdirTemp("", "inferscale-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	agentBin := filepath.Join(dir, "inferscale-agent")
	build := exec.Command("go", "build", "-o", agentBin, "./cmd/inferscale-agent")
	build.Stderr = io.Discard // go-nvml's cgo prints deprecation warnings
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the agent (run from the repository root): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	up, bare, agentPort, admin, scalerPort := freePort(), freePort(), freePort(), freePort(), freePort()
	upURL := fmt.Sprintf("http://127.0.0.1:%d", up)

	// A scaler that takes reports, so the agent does all its work.
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("bench"), 0o600); err != nil {
		return err
	}
	scaler := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", scalerPort), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = scaler.ListenAndServe() }()
	defer scaler.Close()

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	start := func(name string, args ...string) (*exec.Cmd, error) {
		c := exec.Command(name, args...)
		c.Stderr = io.Discard
		if err := c.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, c)
		return c, nil
	}
	if _, err := start(self, "-role=upstream", "-port="+strconv.Itoa(up)); err != nil {
		return err
	}
	bareProc, err := start(self, "-role=bareproxy", "-port="+strconv.Itoa(bare), "-upstream="+upURL)
	if err != nil {
		return err
	}
	agent, err := start(agentBin,
		"--upstream-port="+strconv.Itoa(up), "--listen-port="+strconv.Itoa(agentPort), "--admin-port="+strconv.Itoa(admin),
		"--gpu=off", "--scaler-url="+fmt.Sprintf("http://127.0.0.1:%d", scalerPort), "--token-file="+token,
		"--pod-name=bench", "--pod-namespace=bench", "--pod-uid=bench")
	if err != nil {
		return err
	}
	targets := []target{
		{"direct", upURL},
		{"bare proxy", fmt.Sprintf("http://127.0.0.1:%d", bare)},
		{"agent", fmt.Sprintf("http://127.0.0.1:%d", agentPort)},
	}
	for _, t := range targets {
		if err := waitUp(t.base + "/"); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if err := waitUp(fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)); err != nil {
		return fmt.Errorf("agent readiness: %w", err)
	}
	time.Sleep(time.Second) // let start-up garbage settle before the idle reading
	rssIdle := rss(agent.Process.Pid)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096, DisableCompression: true}}
	// Warm every path (connections, pools) before measuring.
	for _, t := range targets {
		openLoop(client, t.base+"/", 1000, 500*time.Millisecond)
	}

	// 1,000 req/s open loop; the agent's CPU is read over its rounds.
	// Each round's quantiles are kept; the table shows their median over the rounds, so one
	// round disturbed by the rest of the machine does not decide a percentile.
	lat := map[string][][]time.Duration{}
	pids := map[string]int{"bare proxy": bareProc.Process.Pid, "agent": agent.Process.Pid}
	cpu, wall := map[string]time.Duration{}, map[string]time.Duration{}
	for r := range rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			pid, measured := pids[t.name]
			var cpu0 time.Duration
			if measured {
				cpu0 = cpuTime(pid)
			}
			t0 := time.Now()
			lat[t.name] = append(lat[t.name], openLoop(client, t.base+"/", 1000, openFor))
			if measured {
				cpu[t.name] += cpuTime(pid) - cpu0
				wall[t.name] += time.Since(t0)
			}
		}
	}

	// Saturation: closed loop, as many requests as 32 clients get through.
	const workers = 32
	sat := map[string]float64{}
	for r := range rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			sat[t.name] += closedLoop(client, t.base+"/", workers, satFor) / float64(rounds)
		}
	}

	// Time to the first SSE event.
	sse := map[string][]time.Duration{}
	for r := range rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)]
			for range 50 {
				d, err := firstEvent(client, t.base+"/sse")
				if err != nil {
					return fmt.Errorf("%s SSE: %w", t.name, err)
				}
				sse[t.name] = append(sse[t.name], d)
			}
		}
	}

	rssStreams, err := holdStreams(targets[2].base+"/hold", 1000, agent.Process.Pid)
	if err != nil {
		return fmt.Errorf("1000 streams: %w", err)
	}

	// The table.
	q := func(name string, p float64) time.Duration {
		var perRound []time.Duration
		for _, l := range lat[name] {
			perRound = append(perRound, quantile(l, p))
		}
		return quantile(perRound, 0.5)
	}
	qs := func(name string, p float64) time.Duration { return quantile(sse[name], p) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
	added := func(d time.Duration) string { return fmt.Sprintf("%+.3f ms", float64(d)/1e6) }
	ratio := func(agent, bare time.Duration) string {
		if bare <= 0 || agent < 0 {
			return "in noise"
		}
		return fmt.Sprintf("%.2f× bare", float64(agent)/float64(bare))
	}
	fmt.Printf("\ninferscale-agent proxy benchmark: loopback, %d CPUs, %d alternating rounds, one run\n\n", runtime.NumCPU(), rounds)
	fmt.Printf("%-44s %12s %12s %12s %12s\n", "", "direct", "bare proxy", "agent", "agent/bare")
	row := func(label string, f func(string) string, last string) {
		fmt.Printf("%-44s %12s %12s %12s %12s\n", label, f("direct"), f("bare proxy"), f("agent"), last)
	}
	for _, p := range []float64{0.50, 0.99} {
		pp := p
		row(fmt.Sprintf("1,000 req/s open loop p%d (median/round)", int(p*100)), func(n string) string { return ms(q(n, pp)) }, "")
		ab, aa := q("bare proxy", pp)-q("direct", pp), q("agent", pp)-q("direct", pp)
		row(fmt.Sprintf("  added over direct p%d", int(p*100)), func(n string) string { return added(q(n, pp) - q("direct", pp)) }, ratio(aa, ab))
	}
	row(fmt.Sprintf("saturation, %d clients (req/s)", workers), func(n string) string { return fmt.Sprintf("%.0f", sat[n]) }, "")
	row("  throughput ratio to direct", func(n string) string { return fmt.Sprintf("%.2f×", sat[n]/sat["direct"]) }, fmt.Sprintf("%.2f×", sat["agent"]/sat["bare proxy"]))
	row("SSE first event p50", func(n string) string { return ms(qs(n, 0.5)) }, "")
	row("  added over direct p50", func(n string) string { return added(qs(n, 0.5) - qs("direct", 0.5)) },
		ratio(qs("agent", 0.5)-qs("direct", 0.5), qs("bare proxy", 0.5)-qs("direct", 0.5)))
	row("SSE first event p99", func(n string) string { return ms(qs(n, 0.99)) }, "")
	fmt.Println()
	fmt.Printf("agent RSS idle:                          %.1f MiB\n", float64(rssIdle)/(1<<20))
	fmt.Printf("agent RSS with 1,000 concurrent streams: %.1f MiB\n", float64(rssStreams)/(1<<20))
	for _, n := range []string{"agent", "bare proxy"} {
		perHundred := float64(cpu[n]) / float64(wall[n]) / 10 // CPU-seconds per second, per 100 req/s
		fmt.Printf("%-10s CPU per 100 req/s (at 1,000 req/s): %.1f ms/s (%.2f%% of a core)\n", n, perHundred*1000, perHundred*100)
	}
	return nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitUp(u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(u)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up: %v", u, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openLoop sends rate requests per second for d, on schedule whatever the answers do, and
// measures each from its scheduled time, so a stall counts against the target (no
// coordinated omission). Failed requests count as the whole round.
func openLoop(c *http.Client, u string, rate int, d time.Duration) []time.Duration {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			if err := get(c, u); err != nil {
				out[i] = d
				return
			}
			out[i] = time.Since(at)
		})
	}
	wg.Wait()
	return out
}

func get(c *http.Client, u string) error {
	res, err := c.Get(u)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return err
}

func closedLoop(c *http.Client, u string, workers int, d time.Duration) float64 {
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if get(c, u) == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

func firstEvent(c *http.Client, u string) (time.Duration, error) {
	t0 := time.Now()
	res, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: token-1") {
		return 0, fmt.Errorf("first line %q: %v", line, err)
	}
	d := time.Since(t0)
	_, _ = io.Copy(io.Discard, res.Body)
	return d, nil
}

// holdStreams opens n streams through the agent, waits until each saw its first event, and
// reads the agent's RSS while all are open.
func holdStreams(u string, n int, pid int) (int64, error) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var opened sync.WaitGroup
	errs := make(chan error, n)
	var bodies sync.WaitGroup
	for range n {
		opened.Add(1)
		bodies.Add(1)
		go func() {
			defer bodies.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			res, err := c.Do(req)
			if err != nil {
				errs <- err
				opened.Done()
				return
			}
			defer res.Body.Close()
			_, err = bufio.NewReader(res.Body).ReadString('\n')
			if err != nil {
				errs <- err
			}
			opened.Done()
			<-ctx.Done()
		}()
	}
	opened.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	r := rss(pid)
	cancel()
	bodies.Wait()
	c.CloseIdleConnections()
	return r, nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// rss is a process's resident set in bytes, from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is a process's user+system CPU time, from /proc (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}
