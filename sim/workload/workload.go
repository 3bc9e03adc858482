// Package workload produces the requests a simulation replays: from a trace file in the Azure
// LLM inference trace schema, or from synthetic profiles (the demo's DURATION@RPS steps,
// diurnal ramps, on/off bursts) with Poisson, gamma or evenly spaced arrivals. Every source is
// deterministic under its seed.
package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/inferscale/inferscale/internal/loadprofile"
)

// Request is one request of a workload.
type Request struct {
	// At is the arrival time since the start of the workload.
	At time.Duration
	// Prompt and Output are the request's prompt and generated tokens.
	Prompt, Output int32
}

// MaxRequests bounds a workload, so a typo in a rate cannot exhaust memory.
const MaxRequests = 20_000_000

// MaxTokens bounds the tokens of one request.
const MaxTokens = 1 << 20

// Segment is a stretch of constant request rate.
type Segment struct {
	For time.Duration
	RPS float64
}

// Arrivals is the arrival process within a segment.
type Arrivals struct {
	// Kind is "poisson" (exponential gaps), "gamma" (gamma gaps of coefficient of variation
	// CV: burstier than Poisson when CV > 1) or "uniform" (evenly spaced, as the demo's load
	// generator sends).
	Kind string
	CV   float64
}

// ParseArrivals reads "poisson", "uniform" or "gamma:CV".
func ParseArrivals(s string) (Arrivals, error) {
	switch {
	case s == "poisson" || s == "uniform":
		return Arrivals{Kind: s}, nil
	case len(s) > 6 && s[:6] == "gamma:":
		var cv float64
		if _, err := fmt.Sscanf(s[6:], "%g", &cv); err != nil || !(cv > 0 && cv <= 100) {
			return Arrivals{}, fmt.Errorf("arrivals %q: gamma:CV wants a coefficient of variation in (0, 100]", s)
		}
		return Arrivals{Kind: "gamma", CV: cv}, nil
	}
	return Arrivals{}, fmt.Errorf("arrivals %q: want poisson, uniform or gamma:CV", s)
}

// Synthetic generates the requests of rate segments played one after the other, each of
// prompt and output tokens. The arrival process runs on the rescaled time of the cumulative
// rate (a unit-rate renewal process mapped through Λ⁻¹), so a rate change never restarts it.
func Synthetic(segs []Segment, arr Arrivals, prompt, output int32, seed uint64) ([]Request, error) {
	var expected float64
	for i, s := range segs {
		if s.For <= 0 || !(s.RPS >= 0) || math.IsInf(s.RPS, 0) {
			return nil, fmt.Errorf("segment %d: duration %s and rate %v must be positive and finite", i, s.For, s.RPS)
		}
		expected += s.For.Seconds() * s.RPS
	}
	if expected > MaxRequests {
		return nil, fmt.Errorf("the profile asks for about %.0f requests, more than %d", expected, MaxRequests)
	}
	if prompt < 0 || output < 0 || prompt > MaxTokens || output > MaxTokens {
		return nil, fmt.Errorf("tokens per request (%d prompt, %d output) must be within [0, %d]", prompt, output, MaxTokens)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	gap := gapFunc(arr, rng)
	reqs := make([]Request, 0, int(expected*1.05)+16)
	var start time.Duration // start of the current segment
	next := gap()           // next arrival on the rescaled (unit-rate) axis, relative to segment start
	for _, s := range segs {
		budget := s.For.Seconds() * s.RPS // rescaled length of this segment
		for s.RPS > 0 && next < budget {
			at := start + time.Duration(next/s.RPS*float64(time.Second))
			reqs = append(reqs, Request{At: at, Prompt: prompt, Output: output})
			if len(reqs) > MaxRequests {
				return nil, fmt.Errorf("more than %d requests", MaxRequests)
			}
			next += gap()
		}
		next -= budget
		start += s.For
	}
	return reqs, nil
}

func gapFunc(arr Arrivals, rng *rand.Rand) func() float64 {
	switch arr.Kind {
	case "uniform":
		return func() float64 { return 1 }
	case "gamma":
		k := 1 / (arr.CV * arr.CV) // shape; mean 1 needs scale 1/k
		return func() float64 { return gammaVariate(rng, k) / k }
	default:
		return rng.ExpFloat64
	}
}

// gammaVariate draws from Gamma(k, 1) (Marsaglia and Tsang; k < 1 by boosting).
func gammaVariate(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return gammaVariate(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// Diurnal is a day-like ramp: the rate goes from low up to high and back over each period
// (a raised cosine), for duration, in one-second segments.
func Diurnal(period time.Duration, low, high float64, duration time.Duration) ([]Segment, error) {
	if period < time.Second || duration < time.Second || !(low >= 0) || !(high >= low) || math.IsInf(high, 0) {
		return nil, fmt.Errorf("diurnal: period %s and duration %s must be at least 1s, and 0 <= low %v <= high %v", period, duration, low, high)
	}
	n := int(duration / time.Second)
	segs := make([]Segment, n)
	for i := range segs {
		t := (float64(i) + 0.5) / period.Seconds()
		segs[i] = Segment{For: time.Second, RPS: low + (high-low)*(1-math.Cos(2*math.Pi*t))/2}
	}
	return segs, nil
}

// OnOff alternates on at rps and off at zero, starting on, for duration.
func OnOff(on, off time.Duration, rps float64, duration time.Duration) ([]Segment, error) {
	if on <= 0 || off <= 0 || duration <= 0 || !(rps >= 0) || math.IsInf(rps, 0) {
		return nil, fmt.Errorf("on/off: on %s, off %s and duration %s must be positive, rate %v at least 0", on, off, duration, rps)
	}
	var segs []Segment
	for t := time.Duration(0); t < duration; {
		d := min(on, duration-t)
		segs = append(segs, Segment{For: d, RPS: rps})
		t += d
		if t >= duration {
			break
		}
		d = min(off, duration-t)
		segs = append(segs, Segment{For: d, RPS: 0})
		t += d
	}
	return segs, nil
}

// Scale returns the workload with its rate multiplied by rate and its time axis compressed by
// timeScale (gaps divided by it). A rate multiplier above 1 adds, for every request, copies
// (the integer part, plus one more with the fractional part's probability) arriving uniformly
// within the second after it, with the same tokens; below 1 it keeps each request with that
// probability. Both keep the trace's second-to-second shape.
func Scale(reqs []Request, rate, timeScale float64, seed uint64) ([]Request, error) {
	if !(rate > 0 && rate <= 1000) || !(timeScale > 0 && timeScale <= 1e6) {
		return nil, fmt.Errorf("rate scale %v must be within (0, 1000] and time scale %v within (0, 1e6]", rate, timeScale)
	}
	if float64(len(reqs))*rate > MaxRequests {
		return nil, fmt.Errorf("rate scale %v makes %.0f requests, more than %d", rate, float64(len(reqs))*rate, MaxRequests)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5ca1e))
	out := make([]Request, 0, int(float64(len(reqs))*rate)+16)
	for _, r := range reqs {
		r.At = time.Duration(float64(r.At) / timeScale)
		n := int(rate)
		if rng.Float64() < rate-float64(n) {
			n++
		}
		for k := range n {
			c := r
			if k > 0 {
				c.At += time.Duration(rng.Float64() * float64(time.Second) / timeScale)
			}
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

// Span is the arrival time of the last request.
func Span(reqs []Request) time.Duration {
	if len(reqs) == 0 {
		return 0
	}
	return reqs[len(reqs)-1].At
}

// Steps are the segments of a DURATION@RPS load profile.
func Steps(p loadprofile.Profile) []Segment {
	segs := make([]Segment, len(p))
	for i, st := range p {
		segs[i] = Segment{For: st.For, RPS: st.RPS}
	}
	return segs
}
