package model

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// run feeds arrivals to one replica and returns each request's latency and time to first
// token, in arrival order.
func run(t *testing.T, cfg *Config, reqs []Request) (lat, ttft []time.Duration) {
	t.Helper()
	lat = make([]time.Duration, len(reqs))
	ttft = make([]time.Duration, len(reqs))
	done := 0
	p := NewReplica(cfg, 0, func(r *Request, at time.Duration, ok bool) {
		if !ok {
			t.Fatalf("request %d refused", r.Tag)
		}
		lat[r.Tag], ttft[r.Tag] = at-r.Arrive, r.FirstToken-r.Arrive
		done++
	})
	for i := range reqs {
		reqs[i].Tag = int32(i)
		p.Arrive(&reqs[i], reqs[i].Arrive)
	}
	p.AdvanceTo(time.Duration(math.MaxInt64 / 2))
	if done != len(reqs) || p.InFlight() != 0 {
		t.Fatalf("%d of %d requests done, %d in flight", done, len(reqs), p.InFlight())
	}
	return lat, ttft
}

// erlangC is the probability that an arrival waits in M/M/c with offered load a = λ/μ.
func erlangC(c int, a float64) float64 {
	sum, term := 0.0, 1.0
	for k := 0; k < c; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	last := term / (1 - a/float64(c)) // a^c/c! · 1/(1-ρ)
	return last / (sum + last)
}

// With no prefill, no slowdown and geometric output lengths (a fine-grained exponential
// service time), a replica of c slots under Poisson arrivals is M/M/c: its mean wait must
// match Erlang C.
func TestReplicaIsMMcInTheLimit(t *testing.T) {
	const (
		c      = 4
		step   = time.Millisecond
		mean   = 100.0 // tokens after the first: 100 ms of service on average
		lambda = 30.0  // requests/s; μ = 10/s, ρ = 0.75
		n      = 200_000
	)
	cfg := &Config{Slots: c, DecodeBase: d(step)}
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]Request, n)
	var at float64
	var service float64
	for i := range reqs {
		at += rng.ExpFloat64() / lambda
		// Geometric on {0, 1, ...} with mean `mean`.
		k := math.Floor(math.Log(1-rng.Float64()) / math.Log(1-1/(mean+1)))
		reqs[i] = Request{Arrive: time.Duration(at * float64(time.Second)), Output: int32(k) + 1}
		service += k * step.Seconds()
	}
	lat, _ := run(t, cfg, reqs)
	var total float64
	for _, l := range lat {
		total += l.Seconds()
	}
	wait := (total - service) / n
	mu := 1 / (mean * step.Seconds())
	want := erlangC(c, lambda/mu) / (c*mu - lambda)
	if math.Abs(wait-want) > 0.08*want {
		t.Errorf("mean wait %.4fs, Erlang C says %.4fs", wait, want)
	}
}

func TestReplicaPrefillAndDecode(t *testing.T) {
	cfg := &Config{Slots: 8, PrefillBase: d(10 * time.Millisecond), PrefillPerToken: d(time.Millisecond),
		DecodeBase: d(10 * time.Millisecond), DecodePerSeq: d(5 * time.Millisecond)}
	// Alone: prefill 10+100 ms, then 9 steps of 15 ms.
	lat, ttft := run(t, cfg, []Request{{Prompt: 100, Output: 10}})
	if ttft[0] != 110*time.Millisecond || lat[0] != 110*time.Millisecond+9*15*time.Millisecond {
		t.Errorf("alone: TTFT %s, latency %s; want 110ms and 245ms", ttft[0], lat[0])
	}
	// Two at once: the second's prefill waits for the first's and pauses its decoding; then
	// both decode in steps of 20 ms.
	lat, ttft = run(t, cfg, []Request{{Prompt: 100, Output: 10}, {Prompt: 100, Output: 10}})
	if ttft[0] != 110*time.Millisecond || ttft[1] != 220*time.Millisecond {
		t.Errorf("TTFTs %s, %s; want 110ms, 220ms", ttft[0], ttft[1])
	}
	// First: 9 tokens, all after 220 ms at 20 ms each = 400 ms.
	if lat[0] != 400*time.Millisecond {
		t.Errorf("first latency %s, want 400ms", lat[0])
	}
	// Second: 9 steps of 20 ms, then none left: 220 + 180 = 400 ms.
	if lat[1] != 400*time.Millisecond {
		t.Errorf("second latency %s, want 400ms", lat[1])
	}
}

func TestReplicaKVCacheBoundsTheBatch(t *testing.T) {
	cfg := &Config{Slots: 100, KVCacheTokens: 250, DecodeBase: d(10 * time.Millisecond)}
	reqs := make([]Request, 5)
	for i := range reqs {
		reqs[i] = Request{Prompt: 90, Output: 11} // 101 tokens: two fit
	}
	lat, _ := run(t, cfg, reqs)
	// Pairs run 100 ms each: 100, 100, 200, 200, 300 ms.
	want := []time.Duration{100, 100, 200, 200, 300}
	for i := range want {
		if lat[i] != want[i]*time.Millisecond {
			t.Errorf("request %d latency %s, want %dms", i, lat[i], want[i])
		}
	}
	var refused bool
	p := NewReplica(cfg, 0, func(_ *Request, _ time.Duration, ok bool) { refused = !ok })
	p.Arrive(&Request{Prompt: 300, Output: 1}, 0)
	if !refused {
		t.Error("a request larger than the KV cache was not refused")
	}
}

func TestPresetsAreValid(t *testing.T) {
	for name, c := range Presets {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if c.Name != name {
			t.Errorf("preset %s is named %s", name, c.Name)
		}
	}
	bad := Presets["e2e"]
	bad.Slots = 0
	if err := bad.Validate(); err == nil {
		t.Error("0 slots accepted")
	}
}
