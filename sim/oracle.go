package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// Oracle knows the future: each second it asks for the fewest replicas that hold the SLO
// for the load of the next seconds, ceil(rate / capacity), where capacity is the largest
// Poisson rate one replica serves within every SLO target (Capacity) and rate the highest
// arrival rate over a 10 s window around each of the next OracleLookahead seconds. Run with
// zero start delay, its replica-seconds are a lower bound on what any autoscaler needs to
// hold the SLO (up to the Poisson assumption of the capacity).
type Oracle struct {
	rate                     []float64 // requests per second, smoothed, by second
	capacity                 float64
	minReplicas, maxReplicas int32
}

// OracleLookahead is how far ahead the oracle provisions.
const OracleLookahead = 5

// NewOracle returns the oracle for reqs at capacity requests per second per replica.
func NewOracle(reqs []workload.Request, capacity float64, minReplicas, maxReplicas int32) *Oracle {
	n := int(workload.Span(reqs)/time.Second) + 2
	counts := make([]float64, n)
	for _, r := range reqs {
		counts[int(r.At/time.Second)]++
	}
	const half = 5
	rate := make([]float64, n)
	var sum float64
	for i := -half; i < n+half; i++ {
		if j := i + half; j < n {
			sum += counts[j]
		}
		if j := i - half - 1; j >= 0 {
			sum -= counts[j]
		}
		if i >= 0 && i < n {
			rate[i] = sum / (2*half + 1)
		}
	}
	return &Oracle{rate: rate, capacity: capacity, minReplicas: minReplicas, maxReplicas: maxReplicas}
}

// Name implements Autoscaler.
func (o *Oracle) Name() string { return "oracle" }

// Interval implements Autoscaler.
func (o *Oracle) Interval() time.Duration { return time.Second }

// Observe implements Autoscaler; the oracle needs no observations.
func (o *Oracle) Observe(time.Time, *Second) {}

// Decide implements Autoscaler.
func (o *Oracle) Decide(now time.Time, _ *State) int32 {
	t := int(now.Sub(Epoch) / time.Second)
	peak := 0.0
	for i := t; i <= t+OracleLookahead && i < len(o.rate); i++ {
		peak = max(peak, o.rate[i])
	}
	n := int32(math.Ceil(peak / o.capacity))
	return min(max(n, o.minReplicas), o.maxReplicas)
}

// fixed holds the replica count.
type fixed struct{}

func (fixed) Name() string                       { return "fixed" }
func (fixed) Interval() time.Duration            { return time.Second }
func (fixed) Observe(time.Time, *Second)         {}
func (fixed) Decide(_ time.Time, s *State) int32 { return s.Replicas }

// Capacity is the largest Poisson arrival rate one replica of m serves with every SLO
// target's percentile met over a run of five minutes, the requests' sizes drawn in turn from
// sizes (the workload's); found by bisection to 2 %.
func Capacity(m model.Config, sizes []workload.Request, slo []Target, seed uint64) (float64, error) {
	if len(sizes) == 0 {
		return 0, fmt.Errorf("no requests to size the capacity by")
	}
	m.StartDelay.Duration = 0
	const span = 5 * time.Minute
	meets := func(rate float64) (bool, error) {
		reqs, err := workload.Synthetic([]workload.Segment{{For: span, RPS: rate}}, workload.Arrivals{Kind: "poisson"}, 0, 1, seed)
		if err != nil {
			return false, err
		}
		for i := range reqs {
			s := sizes[i%len(sizes)]
			reqs[i].Prompt, reqs[i].Output = s.Prompt, s.Output
		}
		res, err := Run(Config{Requests: reqs, Model: m, SLO: slo, Seed: seed, Duration: span}, fixed{})
		if err != nil {
			return false, err
		}
		if res.Failed > 0 {
			return false, nil
		}
		for _, t := range slo {
			sk := &res.Latency
			switch {
			case t.TimeToFirstToken:
				sk = &res.TTFT
			case t.TimePerOutputToken:
				sk = &res.TPOT
			}
			if Quantile(sk, t.Percentile/100) > t.Latency.Seconds() {
				return false, nil
			}
		}
		return true, nil
	}
	lo, hi := 0.0, 1.0
	for {
		ok, err := meets(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
		if hi > 1e5 {
			return lo, nil
		}
	}
	for i := 0; i < 30 && hi-lo > 0.02*hi; i++ {
		mid := (lo + hi) / 2
		ok, err := meets(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, fmt.Errorf("one replica of %s cannot hold the SLO even at the lowest rate", m.Name)
	}
	return lo, nil
}
