// Package window keeps what the agents report, per target and per pod, in per-second buckets,
// and computes windows over them on demand: request rate, in-flight and queue averages, model
// gauges, GPU readings per pod, and latency percentiles from merged sketches (never from
// averaged percentiles).
//
// Memory is bounded: each tracked pod holds one ring of as many one-second buckets as its
// target's stable window is long. Latency sketches are kept per target, not per pod, in a ring
// of their own, and only when a policy of the target scales on latency: a percentile is a
// property of all the requests the target served (a pod that went away served them too), and
// a per-pod ring of sketches would cost a quarter megabyte per pod. Each second's sketch has
// at most MaxSketchBins bins, coarsened when its values span more (RelativeError). Pods that
// stop reporting age out after a window. The whole store holds at most its memory limit
// (SetMemoryLimit): beyond it a report that needs memory the store does not hold yet (a new
// pod's ring, a wider sketch) is refused with ErrMemoryLimit, and the reports that fit in
// what the store holds are still taken.
//
// Buckets are keyed by the scaler's clock at arrival, not by the agent's interval timestamps:
// agent clocks are not trusted, and windows must line up with the scaler's ticks.
package window

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"k8s.io/utils/clock"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/target"
)

// MaxWindow bounds a ring; it is the API's maximum stable window.
const MaxWindow = 600 * time.Second

// minInterval and maxInterval bound the duration one report weighs. An agent reports every
// second; a report claiming a long interval (a clock jump on its node) must not dominate a
// window, and one claiming a nanosecond must not turn its requests into a rate of billions
// per second (rates and averages divide by the seconds covered).
const (
	minInterval = 100 * time.Millisecond
	maxInterval = 10 * time.Second
)

// ErrUnknownTarget is returned by Record for a target no policy configured.
var ErrUnknownTarget = errors.New("no policy scales this target")

// ErrMemoryLimit is returned by Record for a report that needs memory the store does not hold
// while it holds its limit.
var ErrMemoryLimit = errors.New("the report store holds its memory limit")

// DefaultMemoryLimit is a new store's memory limit: half the scaler container's 1 GiB.
const DefaultMemoryLimit = 512 << 20

// Config says what to keep for one target. The controller derives it from the policies of the
// target each tick.
type Config struct {
	// Window is the longest window the target's policy asks for (its stable window); it sizes
	// the rings. Clamped to [1 s, MaxWindow].
	Window time.Duration
	// Latency, TimeToFirstByte and TimePerOutputToken keep the respective sketches; without a
	// latency metric they would be the bulk of the memory for nothing.
	Latency, TimeToFirstByte, TimePerOutputToken bool
	// ModelMetrics are the model-server gauges to keep; others in reports are ignored.
	ModelMetrics []string
}

// Pod identifies a reporting pod. The UID tells a re-created pod of the same name (a
// StatefulSet's) from its predecessor, whose data must not count.
type Pod struct {
	Name string
	UID  string
}

// Store holds the buckets of every target. It is safe for concurrent use: ingestion records
// while the controller computes windows.
type Store struct {
	clock clock.PassiveClock
	// limit and used are the memory limit and what the buckets and bins hold, in bytes.
	limit, used atomic.Int64

	mu      sync.RWMutex
	targets map[target.Key]*targetData
}

// NewStore returns an empty store reading time from clk.
func NewStore(clk clock.PassiveClock) *Store {
	s := &Store{clock: clk, targets: map[target.Key]*targetData{}}
	s.limit.Store(DefaultMemoryLimit)
	return s
}

// SetMemoryLimit sets how many bytes of buckets and sketch bins the store holds at most.
func (s *Store) SetMemoryLimit(bytes int64) { s.limit.Store(bytes) }

// MemoryLimit is the limit SetMemoryLimit set.
func (s *Store) MemoryLimit() int64 { return s.limit.Load() }

// MemoryUsed is how many bytes of buckets and sketch bins the store holds.
func (s *Store) MemoryUsed() int64 { return s.used.Load() }

// full reports whether the store holds its limit.
func (s *Store) full() bool { return s.used.Load() >= s.limit.Load() }

type targetData struct {
	mu   sync.Mutex
	cfg  Config
	size int // ring length in seconds
	// since is when the first report arrived after the last (re)configuration.
	since time.Time
	pods  map[string]*podData
	// bytes is what the target's buckets and bins hold, counted in the store's used.
	bytes int64
	// refused counts the reports refused for the memory limit.
	refused uint64
	// sketches is the target's ring of merged per-second latency sketches; nil unless a
	// policy of the target scales on latency.
	sketches []sketchBucket
}

type sketchBucket struct {
	sec                     int64
	latency, ttfbSk, tpotSk binned
}

type podData struct {
	uid     string
	last    time.Time // arrival of the last report
	buckets []bucket
	// scrape is what the last report said of the target's model gauges.
	scrape scrapeState
}

// bucket sums one second of reports of one pod. Gauges are kept as value×seconds so that a
// window's average is time-weighted however the reports fall.
type bucket struct {
	sec      int64   // Unix second this bucket holds; a stale one is reset on reuse
	covered  float64 // seconds of report intervals that arrived in this second
	requests uint64
	errors   uint64
	rejected uint64
	inFlight float64
	queue    float64
	gpu      gpuSum
	model    []modelSum
}

type modelSum struct {
	sum  float64 // value×seconds
	secs float64
}

// gpuSum sums the GPU readings of reports: each signal averaged over the devices that
// reported it, times the report's seconds.
type gpuSum struct {
	signals [reportv1.NumGPUSignals]modelSum
	secs    float64 // seconds of reports that carried GPUs
	// unattributed: a report could not tell the pod's GPUs from the node's; devices is the
	// most devices such a report carried.
	unattributed bool
	devices      int
}

func (g *gpuSum) add(o *gpuSum) {
	for i := range g.signals {
		g.signals[i].sum += o.signals[i].sum
		g.signals[i].secs += o.signals[i].secs
	}
	g.secs += o.secs
	g.unattributed = g.unattributed || o.unattributed
	g.devices = max(g.devices, o.devices)
}

func (g *gpuSum) record(r *reportv1.Report, d float64) {
	if len(r.GPUs) == 0 {
		return
	}
	g.secs += d
	if !reportv1.GPUAttributionExact(r.GPUAttribution) {
		g.unattributed = true
		g.devices = max(g.devices, len(r.GPUs))
	}
	for sig := range reportv1.NumGPUSignals {
		var sum float64
		n := 0
		for i := range r.GPUs {
			if v, ok := r.GPUs[i].Signal(sig); ok {
				sum += v
				n++
			}
		}
		if n > 0 {
			g.signals[sig].sum += sum / float64(n) * d
			g.signals[sig].secs += d
		}
	}
}

func (b *bucket) reset(sec int64) {
	*b = bucket{sec: sec, model: b.model[:0]}
}

func ringSize(w time.Duration) int {
	w = min(max(w, time.Second), MaxWindow)
	return int((w + time.Second - 1) / time.Second)
}

// Configure sets what the store keeps for target k, creating it if needed. A changed window
// or metric set drops the target's buckets: data shaped for the old config would be read
// wrongly, and the decision core holds while windows refill.
func (s *Store) Configure(k target.Key, cfg Config) {
	s.mu.RLock()
	t := s.targets[k]
	s.mu.RUnlock()
	if t == nil {
		s.mu.Lock()
		if t = s.targets[k]; t == nil {
			t = &targetData{pods: map[string]*podData{}}
			s.targets[k] = t
		}
		s.mu.Unlock()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	size := ringSize(cfg.Window)
	if t.size == size && t.cfg.Latency == cfg.Latency && t.cfg.TimeToFirstByte == cfg.TimeToFirstByte &&
		t.cfg.TimePerOutputToken == cfg.TimePerOutputToken && equal(t.cfg.ModelMetrics, cfg.ModelMetrics) {
		return
	}
	t.cfg = Config{Window: cfg.Window, Latency: cfg.Latency, TimeToFirstByte: cfg.TimeToFirstByte, TimePerOutputToken: cfg.TimePerOutputToken,
		ModelMetrics: append([]string(nil), cfg.ModelMetrics...)}
	t.size = size
	t.since = time.Time{}
	clear(t.pods)
	t.sketches = nil
	s.charge(t, -t.bytes)
	if cfg.Latency || cfg.TimeToFirstByte || cfg.TimePerOutputToken {
		t.sketches = make([]sketchBucket, size)
		s.charge(t, int64(size)*int64(unsafe.Sizeof(sketchBucket{})))
	}
}

// charge counts n more bytes (fewer when negative) held by target t. Callers hold t.mu.
func (s *Store) charge(t *targetData, n int64) {
	t.bytes += n
	s.used.Add(n)
}

// sketchesFit reports whether r's sketches that t keeps fit in the memory sb holds.
func (t *targetData) sketchesFit(sb *sketchBucket, r *reportv1.Report) bool {
	return (!t.cfg.Latency || sb.latency.fits(&r.Latency)) && (!t.cfg.TimeToFirstByte || sb.ttfbSk.fits(&r.TimeToFirstByte)) &&
		(!t.cfg.TimePerOutputToken || sb.tpotSk.fits(&r.TimePerOutputToken))
}

// ringBytes is what one pod's ring of target t holds: its buckets and their model gauges.
func (t *targetData) ringBytes() int64 {
	return int64(t.size) * (int64(unsafe.Sizeof(bucket{})) + int64(len(t.cfg.ModelMetrics))*int64(unsafe.Sizeof(modelSum{})))
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Forget drops target k and its data (its policy is gone).
func (s *Store) Forget(k target.Key) {
	s.mu.Lock()
	t := s.targets[k]
	delete(s.targets, k)
	s.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		s.charge(t, -t.bytes)
		t.mu.Unlock()
	}
}

// Refused is how many reports of target k the store refused for its memory limit since k was
// first configured (a reconfiguration keeps the count).
func (s *Store) Refused(k target.Key) uint64 {
	t := s.locked(k)
	if t == nil {
		return 0
	}
	defer t.mu.Unlock()
	return t.refused
}

// locked returns target k with its lock held, or nil for an unknown target.
func (s *Store) locked(k target.Key) *targetData {
	s.mu.RLock()
	t := s.targets[k]
	s.mu.RUnlock()
	if t != nil {
		t.mu.Lock()
	}
	return t
}

// Targets returns the keys of the configured targets.
func (s *Store) Targets() []target.Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]target.Key, 0, len(s.targets))
	for k := range s.targets {
		keys = append(keys, k)
	}
	return keys
}

// Record adds report r of pod p to target k's current second.
func (s *Store) Record(k target.Key, p Pod, r *reportv1.Report) error {
	s.mu.RLock()
	t := s.targets[k]
	s.mu.RUnlock()
	if t == nil {
		return ErrUnknownTarget
	}
	now := s.clock.Now()
	sec := now.Unix()

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.since.IsZero() {
		t.since = now
	}
	pd := t.pods[p.Name]
	newPod := pd == nil || pd.uid != p.UID
	var sb *sketchBucket
	if t.sketches != nil {
		if sb = &t.sketches[sec%int64(t.size)]; sb.sec != sec {
			sb.sec = sec
			sb.latency.reset()
			sb.ttfbSk.reset()
			sb.tpotSk.reset()
		}
	}
	if s.full() && (newPod || (sb != nil && !t.sketchesFit(sb, r))) {
		t.refused++
		return ErrMemoryLimit
	}
	if newPod {
		if pd != nil {
			s.charge(t, -t.ringBytes())
		}
		pd = &podData{uid: p.UID, buckets: make([]bucket, t.size)}
		t.pods[p.Name] = pd
		s.charge(t, t.ringBytes())
	}
	pd.last = now
	b := &pd.buckets[sec%int64(t.size)]
	if b.sec != sec {
		b.reset(sec)
	}

	d := min(max(r.Interval.Duration(), minInterval), maxInterval).Seconds()
	b.covered += d
	b.requests += r.Requests.Total()
	b.errors += r.Requests.Errors()
	b.rejected += r.Requests.Rejected
	b.inFlight += r.InFlight.Average * d
	b.queue += r.Queue.Average * d
	b.gpu.record(r, d)
	if names := t.cfg.ModelMetrics; len(names) > 0 {
		pd.scrape.record(names, r)
		if len(b.model) < len(names) {
			b.model = append(b.model[:0], make([]modelSum, len(names))...)
		}
		for i, name := range names {
			if v, ok := r.ModelMetrics[name]; ok {
				b.model[i].sum += v * d
				b.model[i].secs += d
			}
		}
	}
	if sb != nil && t.cfg.Latency {
		s.charge(t, sb.latency.add(&r.Latency))
	}
	if sb != nil && t.cfg.TimeToFirstByte {
		s.charge(t, sb.ttfbSk.add(&r.TimeToFirstByte))
	}
	if sb != nil && t.cfg.TimePerOutputToken {
		s.charge(t, sb.tpotSk.add(&r.TimePerOutputToken))
	}
	return nil
}

// PodStats is one pod's summary over a window.
type PodStats struct {
	// Seconds is how much of the window the pod's reports covered.
	Seconds float64
	// Requests and Errors finished in the window.
	Requests, Errors uint64
	// RequestRate is Requests over Seconds: a pod that started mid-window is not diluted.
	RequestRate float64
	// Rejected are requests the pod's agent refused (its queue was full) in the window, in
	// none of the counts above; RejectedRate is Rejected over Seconds.
	Rejected     uint64
	RejectedRate float64
	// InFlight and Queue are time-weighted averages.
	InFlight, Queue float64
	// InFlightLast is the time-weighted average in flight over the newest second of the
	// window the pod reported for: with InFlight it gives the trend (a backlog building up).
	InFlightLast float64
	// GPU summarises the GPU readings; HasGPU is false when no report carried a GPU.
	GPU    GPUStats
	HasGPU bool
	// ModelMetrics holds the time-weighted average of each configured gauge the pod exported.
	ModelMetrics map[string]float64
	// ModelScrape says why the pod's last report lacked any of the configured gauges.
	ModelScrape ModelScrape
	// LastReport is when the pod's last report arrived.
	LastReport time.Time
}

// GPUStats are one pod's GPU readings over a window.
type GPUStats struct {
	// Signals are percents, time-weighted over the window and averaged over the pod's devices
	// that reported each; Has says which signals any report carried.
	Signals [reportv1.NumGPUSignals]float64
	Has     [reportv1.NumGPUSignals]bool
	// Unattributed is true when a report of the window could not tell the pod's GPUs from
	// the node's; Devices is then the most devices such a report carried.
	Unattributed bool
	Devices      int
}

// Signal returns signal s; ok is false when no report of the window carried it.
func (g *GPUStats) Signal(s reportv1.GPUSignal) (v float64, ok bool) {
	if s < 0 || s >= reportv1.NumGPUSignals {
		return 0, false
	}
	return g.Signals[s], g.Has[s]
}

// Snapshot is a target's data over one window.
type Snapshot struct {
	// Window is the length asked for.
	Window time.Duration
	// Pods has an entry for every pod with at least one report in the window.
	Pods map[string]PodStats
	// Latency, TimeToFirstByte and TimePerOutputToken merge the sketches of all the target's
	// requests in the window; empty when the target does not keep them.
	Latency, TimeToFirstByte, TimePerOutputToken reportv1.Sketch
}

// Window computes target k's snapshot over the last w (clamped to the ring) including the
// current second. ok is false for an unknown target.
func (s *Store) Window(k target.Key, w time.Duration) (snap Snapshot, ok bool) {
	s.mu.RLock()
	t := s.targets[k]
	s.mu.RUnlock()
	if t == nil {
		return Snapshot{}, false
	}
	now := s.clock.Now()
	nowSec := now.Unix()

	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(min(ringSize(w), t.size))
	snap = Snapshot{Window: time.Duration(n) * time.Second, Pods: make(map[string]PodStats, len(t.pods))}
	oldest := nowSec - n + 1
	expired := now.Add(-time.Duration(t.size) * time.Second)
	for name, pd := range t.pods {
		if pd.last.Before(expired) {
			// Aged out: nothing of it is left in any window.
			delete(t.pods, name)
			s.charge(t, -t.ringBytes())
			continue
		}
		var st PodStats
		var inFlight, queue float64
		var gpu gpuSum
		var model []modelSum
		for sec := oldest; sec <= nowSec; sec++ {
			b := &pd.buckets[sec%int64(t.size)]
			if b.sec != sec {
				continue
			}
			st.Seconds += b.covered
			if b.covered > 0 {
				st.InFlightLast = b.inFlight / b.covered
			}
			st.Requests += b.requests
			st.Errors += b.errors
			st.Rejected += b.rejected
			inFlight += b.inFlight
			queue += b.queue
			gpu.add(&b.gpu)
			if len(b.model) > 0 {
				if model == nil {
					model = make([]modelSum, len(t.cfg.ModelMetrics))
				}
				for i, m := range b.model {
					model[i].sum += m.sum
					model[i].secs += m.secs
				}
			}
		}
		if st.Seconds == 0 {
			continue
		}
		st.RequestRate = float64(st.Requests) / st.Seconds
		st.RejectedRate = float64(st.Rejected) / st.Seconds
		st.InFlight = inFlight / st.Seconds
		st.Queue = queue / st.Seconds
		if gpu.secs > 0 {
			st.HasGPU = true
			st.GPU.Unattributed, st.GPU.Devices = gpu.unattributed, gpu.devices
			for i, m := range gpu.signals {
				if m.secs > 0 {
					st.GPU.Signals[i], st.GPU.Has[i] = m.sum/m.secs, true
				}
			}
		}
		for i, m := range model {
			if m.secs > 0 {
				if st.ModelMetrics == nil {
					st.ModelMetrics = map[string]float64{}
				}
				st.ModelMetrics[t.cfg.ModelMetrics[i]] = m.sum / m.secs
			}
		}
		st.LastReport = pd.last
		if len(t.cfg.ModelMetrics) > 0 {
			st.ModelScrape = pd.scrape.snapshot(t.cfg.ModelMetrics)
		}
		snap.Pods[name] = st
	}
	if t.sketches != nil {
		// Every second is read back at the coarsest resolution of the window's seconds, so
		// that they merge bin by bin.
		var latency, ttfb, tpot int
		for sec := oldest; sec <= nowSec; sec++ {
			if sb := &t.sketches[sec%int64(t.size)]; sb.sec == sec {
				latency, ttfb, tpot = max(latency, sb.latency.level), max(ttfb, sb.ttfbSk.level), max(tpot, sb.tpotSk.level)
			}
		}
		for sec := oldest; sec <= nowSec; sec++ {
			if sb := &t.sketches[sec%int64(t.size)]; sb.sec == sec {
				sb.latency.mergeInto(&snap.Latency, latency)
				sb.ttfbSk.mergeInto(&snap.TimeToFirstByte, ttfb)
				sb.tpotSk.mergeInto(&snap.TimePerOutputToken, tpot)
			}
		}
	}
	return snap, true
}

// Covered is how long the store has had reports of target k since it was configured (or
// reconfigured). The controller holds scale-downs until it covers the stable window: after a
// failover or restart the rings start empty, and a partial window would under-count load.
func (s *Store) Covered(k target.Key) time.Duration {
	t := s.locked(k)
	if t == nil {
		return 0
	}
	defer t.mu.Unlock()
	if t.since.IsZero() {
		return 0
	}
	return s.clock.Since(t.since)
}

// ConfigFor is what the store keeps for the target of a defaulted policy spec: its stable
// window, the latency sketches its Latency metrics read and the model gauges its ModelMetric
// metrics name (sorted, so an unchanged policy never reconfigures the target).
func ConfigFor(spec *v1alpha1.AutoscalingPolicySpec) Config {
	cfg := Config{Window: time.Duration(*spec.StableWindowSeconds) * time.Second}
	for _, m := range spec.Metrics {
		switch {
		case m.Latency != nil && m.Latency.TimeToFirstByte:
			cfg.TimeToFirstByte = true
		case m.Latency != nil && m.Latency.TimePerOutputToken:
			cfg.TimePerOutputToken = true
		case m.Latency != nil:
			cfg.Latency = true
		case m.ModelMetric != nil && !slices.Contains(cfg.ModelMetrics, m.ModelMetric.Name):
			cfg.ModelMetrics = append(cfg.ModelMetrics, m.ModelMetric.Name)
		}
	}
	slices.Sort(cfg.ModelMetrics)
	return cfg
}
