package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/inferscale/inferscale/agent/measure"
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// Epoch is the wall-clock time of a run's start. Fixed, so runs are reproducible.
var Epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Balancer spreads requests over the Ready pods.
type Balancer string

const (
	// Random picks a Ready pod uniformly, as kube-proxy does per connection.
	Random Balancer = "random"
	// LeastRequest picks the Ready pod with the fewest requests in flight, ties at random.
	LeastRequest Balancer = "least-request"
)

// Target is one latency objective a request and a second are judged by.
type Target struct {
	// Percentile in (0, 100) for the per-second judgement; a request is within it when its
	// own latency is at most Latency.
	Percentile float64
	Latency    time.Duration
	// TimeToFirstToken judges time to first token instead of end-to-end latency;
	// TimePerOutputToken the time per output token after the first (requests of one token
	// have none and meet it).
	TimeToFirstToken, TimePerOutputToken bool
}

func (t Target) String() string {
	what := "latency"
	switch {
	case t.TimeToFirstToken:
		what = "TTFT"
	case t.TimePerOutputToken:
		what = "TPOT"
	}
	return fmt.Sprintf("p%s %s ≤ %s", strconv.FormatFloat(t.Percentile, 'f', -1, 64), what, t.Latency)
}

// Config is one run.
type Config struct {
	// Requests are the workload, in arrival order. Runs only read them.
	Requests []workload.Request
	// Model is the model server of every pod; Model.StartDelay is the pods' start delay.
	Model model.Config
	// Duration is how long to simulate; at least the workload's span.
	Duration time.Duration
	// InitialReplicas start Ready at time zero. Default 1.
	InitialReplicas int32
	// ReportDelay is how long an agent's report takes to reach the autoscaler after its
	// interval (1 s) ends. Default 0.
	ReportDelay time.Duration
	// DrainGrace is how long a terminating pod may finish its requests before it is killed
	// (terminationGracePeriodSeconds). Default 30 s.
	DrainGrace time.Duration
	Balancer   Balancer
	Seed       uint64
	// SLO are the targets the run is judged by.
	SLO []Target
	// Progress, when set, is called every simulated minute with the share done.
	Progress func(done float64)
}

// Autoscaler decides the replica count of the simulated target. It is called only from the
// run's goroutine.
type Autoscaler interface {
	// Name as the tables print it.
	Name() string
	// Interval between decisions; a multiple of a second.
	Interval() time.Duration
	// Observe receives, at now, the data of the second that ended at s.End: what every pod's
	// agent reported and what the node saw of it.
	Observe(now time.Time, s *Second)
	// Decide returns the desired replica count at now.
	Decide(now time.Time, st *State) int32
}

// State is the target as the API server shows it at a decision.
type State struct {
	// Replicas is spec.replicas of the target's /scale.
	Replicas int32
	// Pods are the target's pods that exist, starting and terminating ones included.
	Pods []PodInfo
}

// PodInfo is one pod as the API server shows it.
type PodInfo struct {
	Name, UID   string
	Created     time.Time
	Ready       bool
	ReadySince  time.Time // zero while not Ready
	Terminating bool
	// CPURequest in millicores.
	CPURequest int64
}

// Second is one second of observations.
type Second struct {
	End  time.Time
	Pods []PodSecond
}

// PodSecond is one pod's second.
type PodSecond struct {
	Name, UID string
	Ready     bool
	// Report is what the pod's agent sent for the second: built by agent/measure from the
	// requests the pod served, with the model's vllm:num_requests_waiting gauge.
	Report *reportv1.Report
	// CPU is the pod's average cpu usage over the second in millicores.
	CPU float64
	// Waiting is vllm:num_requests_waiting at the end of the second.
	Waiting int
}

// WaitingMetric is the model gauge of requests waiting for a batch slot.
const WaitingMetric = "vllm:num_requests_waiting"

// Sample is one second of a run, for charts and the CSV.
type Sample struct {
	T          int     `json:"t"`          // seconds since the start
	Arrivals   int     `json:"arrivals"`   // requests that arrived in the second
	Completed  int     `json:"completed"`  // requests that finished in it
	P99Latency float64 `json:"p99Latency"` // seconds, of the requests finished in it; 0 if none
	P99TTFT    float64 `json:"p99TTFT"`
	Desired    int32   `json:"desired"` // spec.replicas at the end of the second
	Ready      int32   `json:"ready"`
	Pods       int32   `json:"pods"`    // pods that exist (hold a GPU), starting and terminating included
	Waiting    int     `json:"waiting"` // requests waiting for a batch slot, all pods
	Violation  bool    `json:"violation"`
}

// Result is what a run measured.
type Result struct {
	Autoscaler string
	// Requests arrived; Completed finished; Failed were refused or killed (no pod Ready, a
	// prompt larger than the KV cache, or a pod killed at the end of its drain grace).
	Requests, Completed, Failed int
	// Unfinished were still in flight when the run ended; they count as outside the SLO.
	Unfinished int
	// WithinSLO is the requests that met every target.
	WithinSLO int
	// LoadedSeconds had at least one request finish; ViolationSeconds are those where a
	// target's percentile over the requests finished in the second missed it.
	LoadedSeconds, ViolationSeconds int
	// ReplicaSeconds integrates the pods that exist (a starting pod holds its GPU);
	// ReadyReplicaSeconds only the Ready ones.
	ReplicaSeconds, ReadyReplicaSeconds float64
	// ScaleEvents counts changes of spec.replicas.
	ScaleEvents int
	// Latency, TTFT and TPOT are sketches over all finished requests (seconds).
	Latency, TTFT, TPOT reportv1.Sketch
	Samples             []Sample
}

// SLOAttainment is the share of requests within the SLO.
func (r *Result) SLOAttainment() float64 {
	if r.Requests == 0 {
		return 1
	}
	return float64(r.WithinSLO) / float64(r.Requests)
}

// SecondsAttainment is the share of loaded seconds within the SLO.
func (r *Result) SecondsAttainment() float64 {
	if r.LoadedSeconds == 0 {
		return 1
	}
	return 1 - float64(r.ViolationSeconds)/float64(r.LoadedSeconds)
}

// Quantile of a sketch in seconds, 0 when empty.
func Quantile(s *reportv1.Sketch, q float64) float64 {
	v, _ := s.Quantile(q)
	return v
}

func (c *Config) defaults() error {
	if c.InitialReplicas == 0 {
		c.InitialReplicas = 1
	}
	if c.DrainGrace == 0 {
		c.DrainGrace = 30 * time.Second
	}
	if c.Balancer == "" {
		c.Balancer = Random
	}
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	switch {
	case c.InitialReplicas < 1 || c.InitialReplicas > 10000:
		return fmt.Errorf("initial replicas %d: want 1 to 10000", c.InitialReplicas)
	case c.ReportDelay < 0 || c.ReportDelay > time.Minute:
		return fmt.Errorf("report delay %s: want 0 to 1m", c.ReportDelay)
	case c.DrainGrace < 0 || c.DrainGrace > time.Hour:
		return fmt.Errorf("drain grace %s: want 0 to 1h", c.DrainGrace)
	case c.Balancer != Random && c.Balancer != LeastRequest:
		return fmt.Errorf("balancer %q: want random or least-request", c.Balancer)
	case len(c.SLO) == 0:
		return errors.New("no SLO target to judge the run by")
	}
	for _, t := range c.SLO {
		if !(t.Percentile > 0 && t.Percentile < 100) || t.Latency <= 0 {
			return fmt.Errorf("SLO target %s: percentile must be in (0, 100) and latency positive", t)
		}
	}
	c.Duration = max(c.Duration, workload.Span(c.Requests)+time.Second)
	if c.Duration > 30*24*time.Hour {
		return fmt.Errorf("duration %s: at most 30 days", c.Duration)
	}
	return nil
}

// pod is one simulated pod.
type pod struct {
	info    PodInfo
	created time.Duration
	readyAt time.Duration
	index   int // position in the endpoints while Ready and not terminating; -1 otherwise
	gone    bool

	replica *model.Replica
	rec     *measure.Recorder
	epoch   time.Duration // the recorder's epoch on the run's clock
	busy    time.Duration // replica busy time at the last collection
	done    int           // requests finished since the last collection
}

// inflight is a request somewhere in the cluster.
type inflight struct {
	req model.Request
	pod *pod
}

type event struct {
	at   time.Duration
	kind eventKind
	pod  *pod
	sec  *Second
	seq  int
}

type eventKind uint8

const (
	evReady eventKind = iota
	evKill
	evDeliver
)

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// run is the state of one run.
type run struct {
	cfg   *Config
	as    Autoscaler
	rng   *rand.Rand
	clock *clocktesting.FakePassiveClock

	now       time.Duration
	pods      []*pod
	endpoints []*pod
	replicas  int32
	nextPod   int
	events    events
	seq       int

	reqs     []inflight // one per workload request, indexed by Tag
	res      *Result
	second   reportv1.Sketch // latency of the requests finished in the current second
	secondTT reportv1.Sketch
	secDone  int
	arrived  int               // requests that arrived before the current second
	secOver  []reportv1.Sketch // per SLO target
	free     []*Second
}

// Run simulates cfg under as and returns what it measured.
func Run(cfg Config, as Autoscaler) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if iv := as.Interval(); iv < time.Second || iv%time.Second != 0 {
		return nil, fmt.Errorf("autoscaler %s: interval %s must be a whole number of seconds", as.Name(), iv)
	}
	if len(cfg.Requests) > math.MaxInt32 {
		return nil, fmt.Errorf("%d requests: too many", len(cfg.Requests))
	}
	r := &run{
		cfg:     &cfg,
		as:      as,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0xba1a)),
		clock:   clocktesting.NewFakePassiveClock(Epoch),
		reqs:    make([]inflight, len(cfg.Requests)),
		res:     &Result{Autoscaler: as.Name(), Requests: len(cfg.Requests)},
		secOver: make([]reportv1.Sketch, len(cfg.SLO)),
	}
	r.res.Samples = make([]Sample, 0, int(cfg.Duration/time.Second)+1)
	for range cfg.InitialReplicas {
		p := r.newPod()
		r.setReady(p)
	}
	r.replicas = cfg.InitialReplicas
	r.loop()
	return r.res, nil
}

func (r *run) wall(t time.Duration) time.Time { return Epoch.Add(t) }

func (r *run) push(e event) {
	e.seq = r.seq
	r.seq++
	heap.Push(&r.events, e)
}

func (r *run) newPod() *pod {
	name := fmt.Sprintf("%s-%d", r.as.Name(), r.nextPod)
	r.nextPod++
	p := &pod{
		info:    PodInfo{Name: name, UID: "uid-" + name, Created: r.wall(r.now), CPURequest: r.cfg.Model.CPURequest},
		created: r.now,
		readyAt: r.now + r.cfg.Model.StartDelay.Duration,
		index:   -1,
	}
	p.replica = model.NewReplica(&r.cfg.Model, r.now, r.finished)
	r.clock.SetTime(r.wall(r.now))
	p.rec = measure.New(r.clock, nil)
	p.epoch = r.now
	r.pods = append(r.pods, p)
	return p
}

func (r *run) setReady(p *pod) {
	if p.gone || p.info.Terminating || p.info.Ready {
		return
	}
	p.info.Ready, p.info.ReadySince = true, r.wall(r.now)
	p.index = len(r.endpoints)
	r.endpoints = append(r.endpoints, p)
}

func (r *run) removeEndpoint(p *pod) {
	if p.index < 0 {
		return
	}
	last := r.endpoints[len(r.endpoints)-1]
	r.endpoints[p.index] = last
	last.index = p.index
	r.endpoints = r.endpoints[:len(r.endpoints)-1]
	p.index = -1
}

// finished is every replica's Done.
func (r *run) finished(req *model.Request, at time.Duration, ok bool) {
	f := &r.reqs[req.Tag]
	p := f.pod
	lat := at - req.Arrive
	if !ok {
		r.fail(p, lat, at)
		return
	}
	ttft := req.FirstToken - req.Arrive
	p.rec.InFlight.Down(int64(at - p.epoch))
	t := measure.Timing{Latency: lat, FirstByte: ttft, HasFirstByte: true}
	if req.Output > 1 {
		// One token per event, the first at the first token and the last at the end.
		t.PerOutputToken, t.HasPerOutputToken = (at-req.FirstToken)/time.Duration(req.Output-1), true
	}
	p.rec.Done(measure.Class2xx, t)
	p.done++
	r.res.Completed++
	r.observeLatency(lat, ttft, t.PerOutputToken, t.HasPerOutputToken)
	if p.info.Terminating && p.replica.InFlight() == 0 {
		r.gone(p)
	}
}

func (r *run) observeLatency(lat, ttft, tpot time.Duration, hasTPOT bool) {
	within := true
	for i, t := range r.cfg.SLO {
		v := lat
		switch {
		case t.TimeToFirstToken:
			v = ttft
		case t.TimePerOutputToken && !hasTPOT:
			continue
		case t.TimePerOutputToken:
			v = tpot
		}
		within = within && v <= t.Latency
		r.secOver[i].Add(v.Seconds())
	}
	if within {
		r.res.WithinSLO++
	}
	r.res.Latency.Add(lat.Seconds())
	r.res.TTFT.Add(ttft.Seconds())
	if hasTPOT {
		r.res.TPOT.Add(tpot.Seconds())
	}
	r.second.Add(lat.Seconds())
	r.secondTT.Add(ttft.Seconds())
	r.secDone++
}

// fail counts a request that got an error after lat; p is nil when no pod took it.
func (r *run) fail(p *pod, lat, at time.Duration) {
	r.res.Failed++
	if p != nil {
		p.rec.InFlight.Down(int64(at - p.epoch))
		p.rec.Done(measure.Class5xx, measure.Timing{Latency: lat})
	}
	for i := range r.cfg.SLO {
		r.secOver[i].Add(reportv1.MaxValue) // a failed request misses every target
	}
	r.secDone++
}

func (r *run) gone(p *pod) {
	if p.gone {
		return
	}
	p.gone = true
	r.removeEndpoint(p)
}

// arrive routes request i at its arrival time.
func (r *run) arrive(i int) {
	w := &r.cfg.Requests[i]
	if len(r.endpoints) == 0 {
		r.fail(nil, 0, w.At)
		return
	}
	var p *pod
	switch r.cfg.Balancer {
	case LeastRequest:
		best, ties := math.MaxInt, 0
		for _, e := range r.endpoints {
			e.replica.AdvanceTo(w.At)
			switch n := e.replica.InFlight(); {
			case n < best:
				best, ties, p = n, 1, e
			case n == best:
				ties++
				if r.rng.IntN(ties) == 0 {
					p = e
				}
			}
		}
	default:
		p = r.endpoints[r.rng.IntN(len(r.endpoints))]
	}
	f := &r.reqs[i]
	f.pod = p
	f.req = model.Request{Prompt: w.Prompt, Output: w.Output, Tag: int32(i)}
	p.replica.AdvanceTo(w.At)
	p.rec.InFlight.Up(int64(w.At - p.epoch))
	p.replica.Arrive(&f.req, w.At)
}

func (r *run) loop() {
	cfg := r.cfg
	interval := r.as.Interval()
	next := 0
	end := cfg.Duration.Truncate(time.Second) + time.Second
	lastProgress := time.Duration(0)
	for T := time.Second; T <= end; T += time.Second {
		// Everything before the end of this second, in time order.
		for {
			at, kind := T, -1
			if next < len(cfg.Requests) && cfg.Requests[next].At < at {
				at, kind = cfg.Requests[next].At, 0
			}
			if len(r.events) > 0 && r.events[0].at < at {
				at, kind = r.events[0].at, 1
			}
			if kind < 0 {
				break
			}
			r.now = at
			if kind == 0 {
				r.arrive(next)
				next++
				continue
			}
			e := heap.Pop(&r.events).(event)
			r.handle(e)
		}
		r.now = T
		sec := r.collect(T)
		if cfg.ReportDelay == 0 {
			r.deliver(sec)
		} else {
			r.push(event{at: T + cfg.ReportDelay, kind: evDeliver, sec: sec})
		}
		// Deliveries due at T come before the decision.
		for len(r.events) > 0 && r.events[0].at == T && r.events[0].kind == evDeliver {
			r.handle(heap.Pop(&r.events).(event))
		}
		if T%interval == 0 {
			r.decide()
		}
		r.sample(T, next)
		if cfg.Progress != nil && T-lastProgress >= time.Minute {
			lastProgress = T
			cfg.Progress(float64(T) / float64(end))
		}
	}
	r.finish()
}

func (r *run) handle(e event) {
	switch e.kind {
	case evReady:
		e.pod.replica.AdvanceTo(r.now)
		r.setReady(e.pod)
	case evKill:
		p := e.pod
		if p.gone {
			return
		}
		p.replica.AdvanceTo(r.now)
		for _, req := range p.replica.Drop() {
			r.fail(p, r.now-req.Arrive, r.now)
		}
		r.gone(p)
	case evDeliver:
		r.deliver(e.sec)
	}
}

func (r *run) deliver(s *Second) {
	r.as.Observe(r.wall(r.now), s)
	r.free = append(r.free, s)
}

// collect closes the second ending at T on every pod: the agent's report, cpu, the gauge.
func (r *run) collect(T time.Duration) *Second {
	var s *Second
	if n := len(r.free); n > 0 {
		s, r.free = r.free[n-1], r.free[:n-1]
	} else {
		s = &Second{}
	}
	s.End = r.wall(T)
	r.clock.SetTime(s.End)
	pods := s.Pods[:0]
	alive := r.pods[:0]
	m := &r.cfg.Model
	for _, p := range r.pods {
		p.replica.AdvanceTo(T)
		if p.gone {
			continue
		}
		alive = append(alive, p)
		// The agent reports from the pod's start, as the sidecar does while the model loads.
		ps := PodSecond{Name: p.info.Name, UID: p.info.UID, Ready: p.info.Ready}
		if i := len(pods); i < cap(pods) && pods[:i+1][i].Report != nil {
			ps.Report = pods[:i+1][i].Report
		} else {
			ps.Report = &reportv1.Report{ModelMetrics: map[string]float64{}}
		}
		rep := ps.Report
		p.rec.Collect(rep)
		rep.APIVersion = reportv1.APIVersion
		rep.Pod = reportv1.PodRef{Namespace: "sim", Name: p.info.Name, UID: p.info.UID}
		ps.Waiting = p.replica.Waiting()
		rep.ModelMetrics[WaitingMetric] = float64(ps.Waiting)
		busy := p.replica.Busy()
		ps.CPU = float64(m.CPUIdle) + float64(m.CPUBusy)*(busy-p.busy).Seconds() + m.CPUPerRequest*float64(p.done)
		p.busy, p.done = busy, 0
		pods = append(pods, ps)
	}
	clear(r.pods[len(alive):])
	r.pods = alive
	s.Pods = pods
	return s
}

func (r *run) state() *State {
	st := &State{Replicas: r.replicas, Pods: make([]PodInfo, 0, len(r.pods))}
	for _, p := range r.pods {
		st.Pods = append(st.Pods, p.info)
	}
	return st
}

func (r *run) decide() {
	want := r.as.Decide(r.wall(r.now), r.state())
	if want == r.replicas || want < 0 {
		return
	}
	r.res.ScaleEvents++
	r.scaleTo(want)
}

// scaleTo makes the ReplicaSet controller's moves: new pods for a scale-up; for a
// scale-down, pods that are not Ready go first, then the most recently Ready (its
// ActivePodsWithRanks order, newest first).
func (r *run) scaleTo(n int32) {
	r.replicas = n
	var active []*pod
	for _, p := range r.pods {
		if !p.gone && !p.info.Terminating {
			active = append(active, p)
		}
	}
	for i := int32(len(active)); i < n; i++ {
		p := r.newPod()
		if p.readyAt <= r.now {
			r.setReady(p)
		} else {
			r.push(event{at: p.readyAt, kind: evReady, pod: p})
		}
	}
	if extra := len(active) - int(n); extra > 0 {
		slices.SortStableFunc(active, func(a, b *pod) int {
			if a.info.Ready != b.info.Ready {
				if !a.info.Ready {
					return -1
				}
				return 1
			}
			return b.info.ReadySince.Compare(a.info.ReadySince)
		})
		for _, p := range active[:extra] {
			r.terminate(p)
		}
	}
}

func (r *run) terminate(p *pod) {
	p.info.Terminating = true
	r.removeEndpoint(p)
	p.replica.AdvanceTo(r.now)
	if p.replica.InFlight() == 0 {
		r.gone(p)
		return
	}
	r.push(event{at: r.now + r.cfg.DrainGrace, kind: evKill, pod: p})
}

func (r *run) sample(T time.Duration, arrived int) {
	s := Sample{T: int(T / time.Second), Completed: r.secDone, Desired: r.replicas}
	s.P99Latency = Quantile(&r.second, 0.99)
	s.P99TTFT = Quantile(&r.secondTT, 0.99)
	s.Arrivals = arrived - r.arrived
	for _, p := range r.pods {
		if p.gone {
			continue
		}
		s.Pods++
		if p.info.Ready && !p.info.Terminating {
			s.Ready++
		}
		s.Waiting += p.replica.Waiting()
	}
	if r.secDone > 0 {
		r.res.LoadedSeconds++
		for i, t := range r.cfg.SLO {
			if v, ok := r.secOver[i].Quantile(t.Percentile / 100); ok && v > t.Latency.Seconds() {
				s.Violation = true
			}
		}
		if s.Violation {
			r.res.ViolationSeconds++
		}
	}
	r.res.ReplicaSeconds += float64(s.Pods)
	r.res.ReadyReplicaSeconds += float64(s.Ready)
	r.res.Samples = append(r.res.Samples, s)
	r.arrived = arrived
	r.second.Reset()
	r.secondTT.Reset()
	for i := range r.secOver {
		r.secOver[i].Reset()
	}
	r.secDone = 0
}

// finish counts the requests still in flight when the run ends.
func (r *run) finish() {
	for _, p := range r.pods {
		if p.gone {
			continue
		}
		for _, req := range p.replica.Drop() {
			r.res.Unfinished++
			lat := r.now - req.Arrive
			r.res.Latency.Add(lat.Seconds())
			r.res.TTFT.Add(lat.Seconds())
		}
	}
}
