// Package measure records what the agent's data path sees (per-request latency, time to first
// byte and per output token, outcome, requests in flight and queued) with a few atomic operations per request, and
// closes one report interval at a time.
package measure

import (
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Class is a request's outcome as the report counts it.
type Class uint8

// Outcome classes; see reportv1.Requests.
const (
	Class2xx Class = iota
	Class3xx
	Class4xx
	Class5xx
	ClassTransportError
	numClasses
)

var classNames = [numClasses]string{"2xx", "3xx", "4xx", "5xx", "transport_error"}

func (c Class) String() string { return classNames[c] }

// ClassOf maps an HTTP status to its class; final 1xx (101 Switching Protocols) counts as 2xx.
func ClassOf(status int) Class {
	switch {
	case status < 300:
		return Class2xx
	case status < 400:
		return Class3xx
	case status < 500:
		return Class4xx
	default:
		return Class5xx
	}
}

// Recorder is safe for concurrent use by any number of requests and one collector.
type Recorder struct {
	clock clock.PassiveClock
	epoch time.Time

	// InFlight counts requests accepted and not finished, queued ones included; Queue counts
	// those waiting for a concurrency slot. The proxy moves them.
	InFlight Level
	Queue    Level

	gen       atomic.Pointer[generation]
	shardMask uint32

	// Collect's state; mu only serialises collectors.
	mu        sync.Mutex
	spare     *generation
	lastStart time.Time
	lastInt   [2]int64 // InFlight and Queue integrals at lastStart

	duration [numClasses]prometheus.Observer
	ttfb     prometheus.Observer
	tpot     prometheus.Observer
	rejected prometheus.Counter
}

// generation holds the counts of one interval. Writers record into the current one; Collect
// swaps in a zeroed one and drains the old one once no writer is inside it.
type generation struct {
	shards []shard
}

type shard struct {
	writers  atomic.Int64
	classes  [numClasses]atomic.Uint64
	rejected atomic.Uint64
	latency  hist
	ttfb     hist
	tpot     hist
	_        [64]byte // keeps the hot counters of neighbouring shards off one cache line
}

type hist struct {
	zero    atomic.Uint64
	sumNano atomic.Uint64
	buckets []atomic.Uint64 // reportv1.MinIndex .. reportv1.MaxIndex
}

func newGeneration(shards int) *generation {
	g := &generation{shards: make([]shard, shards)}
	n := reportv1.MaxIndex - reportv1.MinIndex + 1
	for i := range g.shards {
		g.shards[i].latency.buckets = make([]atomic.Uint64, n)
		g.shards[i].ttfb.buckets = make([]atomic.Uint64, n)
		g.shards[i].tpot.buckets = make([]atomic.Uint64, n)
	}
	return g
}

// New returns a Recorder whose first interval starts now. Its Prometheus metrics are
// registered with reg (nil: not exported).
func New(clk clock.PassiveClock, reg prometheus.Registerer) *Recorder {
	// One shard per processor, at most 8: enough to keep cores off each other's cache lines
	// without scanning much memory each interval.
	shards := 1 << bits.Len(uint(min(runtime.GOMAXPROCS(0), 8)-1))
	r := &Recorder{
		clock:     clk,
		epoch:     clk.Now(),
		shardMask: uint32(shards - 1),
		spare:     newGeneration(shards),
	}
	r.lastStart = r.epoch
	r.gen.Store(newGeneration(shards))

	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "inferscale", Subsystem: "agent", Name: "request_duration_seconds",
		Help:    "Time from receiving a request to the end of its response, by outcome class.",
		Buckets: latencyBuckets,
	}, []string{"class"})
	ttfb := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "inferscale", Subsystem: "agent", Name: "time_to_first_byte_seconds",
		Help:    "Time from receiving a request to the first byte of the model's response body.",
		Buckets: latencyBuckets,
	})
	tpot := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "inferscale", Subsystem: "agent", Name: "time_per_output_token_seconds",
		Help:    "Per event-stream response of two events or more, the time from its first event to its last over the events between them.",
		Buckets: latencyBuckets,
	})
	for c := range numClasses {
		r.duration[c] = duration.WithLabelValues(c.String())
	}
	r.ttfb, r.tpot = ttfb, tpot
	r.rejected = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "inferscale", Subsystem: "agent", Name: "rejected_requests_total",
		Help: "Requests the agent answered 503 itself because its queue was full.",
	})
	if reg != nil {
		reg.MustRegister(duration, ttfb, tpot, r.rejected,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "inferscale", Subsystem: "agent", Name: "requests_in_flight",
				Help: "Requests accepted and not finished, including queued ones.",
			}, func() float64 { return float64(r.InFlight.Value()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "inferscale", Subsystem: "agent", Name: "queue_depth",
				Help: "Requests waiting in the agent for a concurrency slot.",
			}, func() float64 { return float64(r.Queue.Value()) }))
	}
	return r
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Now is the recorder's clock reading, as a time and as the nanosecond offset Level uses.
func (r *Recorder) Now() (time.Time, int64) {
	t := r.clock.Now()
	return t, int64(t.Sub(r.epoch))
}

// Timing is what the proxy measured of one finished request.
type Timing struct {
	Latency time.Duration
	// FirstByte is the time to the first byte of the model's body, when it sent one
	// (HasFirstByte).
	FirstByte    time.Duration
	HasFirstByte bool
	// PerOutputToken is, for an event stream of two events or more (HasPerOutputToken), the
	// time from its first event to its last over the events between them.
	PerOutputToken    time.Duration
	HasPerOutputToken bool
}

// Done records a finished request: its class and timing.
func (r *Recorder) Done(c Class, t Timing) {
	s := rand.Uint32() & r.shardMask
	for {
		g := r.gen.Load()
		sh := &g.shards[s]
		sh.writers.Add(1)
		// A collector that swapped g out between our Load and Add may already have drained
		// it; it waits only for writers it can see, so recheck and follow the swap.
		if r.gen.Load() != g {
			sh.writers.Add(-1)
			continue
		}
		sh.classes[c].Add(1)
		sh.latency.add(t.Latency)
		if t.HasFirstByte {
			sh.ttfb.add(t.FirstByte)
		}
		if t.HasPerOutputToken {
			sh.tpot.add(t.PerOutputToken)
		}
		sh.writers.Add(-1)
		break
	}
	r.duration[c].Observe(t.Latency.Seconds())
	if t.HasFirstByte {
		r.ttfb.Observe(t.FirstByte.Seconds())
	}
	if t.HasPerOutputToken {
		r.tpot.Observe(t.PerOutputToken.Seconds())
	}
}

// Reject records a request the agent refused itself (its queue was full). It counts in the
// report's requests.rejected only: not as a 5xx, and in no latency sketch, since an instant
// refusal says nothing of the model's latency and would lower the percentiles exactly when
// the model is overloaded.
func (r *Recorder) Reject() {
	s := rand.Uint32() & r.shardMask
	for {
		g := r.gen.Load()
		sh := &g.shards[s]
		sh.writers.Add(1)
		if r.gen.Load() != g { // see Done
			sh.writers.Add(-1)
			continue
		}
		sh.rejected.Add(1)
		sh.writers.Add(-1)
		break
	}
	r.rejected.Inc()
}

func (h *hist) add(d time.Duration) {
	h.sumNano.Add(uint64(max(d, 0)))
	v := d.Seconds()
	if v < reportv1.MinValue {
		h.zero.Add(1)
		return
	}
	h.buckets[reportv1.Index(v)-reportv1.MinIndex].Add(1)
}

// drainInto moves the counts into s and zeroes them. Collect calls it once no writer is
// inside the generation, so a histogram with no sum and no zero count is empty and its
// buckets need no scan: most intervals of an idle pod.
func (h *hist) drainInto(s *reportv1.Sketch) {
	if h.sumNano.Load() == 0 && h.zero.Load() == 0 {
		return
	}
	s.AddZero(h.zero.Swap(0))
	s.AddSum(float64(h.sumNano.Swap(0)) / 1e9)
	for i := range h.buckets {
		if h.buckets[i].Load() != 0 {
			s.AddIndex(i+reportv1.MinIndex, h.buckets[i].Swap(0))
		}
	}
}

// Collect closes the current interval at the clock's now and fills rep's interval, request
// counts, sketches and gauges with it. The next interval starts where this one ended.
func (r *Recorder) Collect(rep *reportv1.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()

	old := r.gen.Swap(r.spare)
	// The end is the start plus the monotonic time elapsed, so a step of the wall clock
	// never yields an interval that ends before it starts; 1 ns at least, for fake clocks.
	end := r.lastStart.Add(max(r.clock.Since(r.lastStart), 1))
	now := int64(end.Sub(r.epoch))
	for i := range old.shards {
		for old.shards[i].writers.Load() != 0 {
			runtime.Gosched()
		}
	}
	rep.Interval = reportv1.Interval{Start: r.lastStart, End: end}
	rep.Requests = reportv1.Requests{}
	rep.Latency.Reset()
	rep.TimeToFirstByte.Reset()
	rep.TimePerOutputToken.Reset()
	for i := range old.shards {
		sh := &old.shards[i]
		rep.Requests.Status2xx += sh.classes[Class2xx].Swap(0)
		rep.Requests.Status3xx += sh.classes[Class3xx].Swap(0)
		rep.Requests.Status4xx += sh.classes[Class4xx].Swap(0)
		rep.Requests.Status5xx += sh.classes[Class5xx].Swap(0)
		rep.Requests.TransportErrors += sh.classes[ClassTransportError].Swap(0)
		rep.Requests.Rejected += sh.rejected.Swap(0)
		sh.latency.drainInto(&rep.Latency)
		sh.ttfb.drainInto(&rep.TimeToFirstByte)
		sh.tpot.drainInto(&rep.TimePerOutputToken)
	}
	r.spare = old

	span := float64(end.Sub(r.lastStart))
	for k, l := range []*Level{&r.InFlight, &r.Queue} {
		in, n := l.integral(now)
		g := reportv1.Gauge{Max: float64(l.takeMax(n))}
		if span > 0 {
			g.Average = max(float64(in-r.lastInt[k])/span, 0)
		}
		r.lastInt[k] = in
		if k == 0 {
			rep.InFlight = g
		} else {
			rep.Queue = g
		}
	}
	r.lastStart = end
}
