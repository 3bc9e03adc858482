package decision

import (
	"fmt"
	"github.com/inferscale/inferscale/api/v1alpha1"
	"strings"
	"testing"
	"time"

	"github.com/inferscale/inferscale/scaler/window"
)

func TestCapacityLearning(t *testing.T) {
	type obs struct {
		rate, p float64
		steady  bool
		stale   bool // only the stable window is over target, not the burst window
		at      int  // seconds after t0
	}
	const target = 1.0
	for _, tc := range []struct {
		name string
		obs  []obs
		want float64 // perReplica
	}{
		{"nothing learned", nil, 0},
		{"no traffic teaches nothing", []obs{{0, 0.1, false, false, 0}}, 0},
		{"within target: explore above the best safe rate, by the headroom", []obs{{4, 0.8, false, false, 0}}, 5},
		{"far within target: explore at most 1.5×", []obs{{4, 0.1, false, false, 0}}, 6},
		{"the best safe rate counts", []obs{{4, 0.5, false, false, 0}, {2, 0.1, false, false, 0}}, 6},
		{"saturated: plan at 0.8 of the saturation rate", []obs{{4, 0.5, false, false, 0}, {10, 3, true, false, 0}}, 8},
		{"saturated while pods start: a backlog, nothing learned", []obs{{4, 0.5, false, false, 0}, {10, 3, false, false, 0}}, 6},
		{"saturated below a better safe rate: the safe one", []obs{{4, 0.5, false, false, 0}, {4.5, 3, true, false, 0}}, 4},
		{"the lowest saturation rate counts", []obs{{4, 0.5, false, false, 0}, {10, 3, true, false, 0}, {12, 5, true, false, 0}, {9, 2, true, false, 0}}, 7.2},
		{"a violation at a rate proven safe, after a scale-up, is a transient", []obs{{4, 0.5, false, false, 0}, {3, 5, false, false, 0}}, 6},
		{"a violation at a rate proven safe, steady for a window, relearns", []obs{{4, 0.5, true, false, 0}, {3, 5, true, false, 1}, {3, 5, true, false, 61}}, 2.4},
		{"a violation at a rate proven safe, steady for less than a window, is a transient", []obs{{4, 0.5, true, false, 0}, {3, 5, true, false, 1}, {3, 5, true, false, 60}}, 6},
		{"a violation at a rate proven safe that stops restarts the count", []obs{{4, 0.5, true, false, 0}, {3, 5, true, false, 1}, {3, 0.5, true, false, 30}, {3, 5, true, false, 31}, {3, 5, true, false, 61}}, 6},
		{"a violation of a burst that passed teaches nothing", []obs{{4, 0.5, false, false, 0}, {10, 3, true, true, 1}, {3, 5, true, true, 2}, {3, 5, true, true, 70}}, 6},
		{"a safe rate at the saturation rate keeps it", []obs{{4, 0.5, false, false, 0}, {10, 3, true, false, 0}, {10.5, 0.9, false, false, 0}}, 10.5},
		{"a safe rate clearly above the saturation rate forgets it", []obs{{4, 0.5, false, false, 0}, {10, 3, true, false, 0}, {12, 0.9, false, false, 0}}, 12 / 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c capacity
			for _, o := range tc.obs {
				c.observe(observation{rate: o.rate, p: o.p, target: target, steady: o.steady, fresh: !o.stale,
					now: t0.Add(time.Duration(o.at) * time.Second), window: time.Minute})
			}
			got := c.perReplica(target)
			if fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", tc.want) {
				t.Errorf("perReplica = %v, want %v (%+v)", got, tc.want, c)
			}
		})
	}
}

// servedInput is a latency policy over ready pods that each finished rate requests per second
// with inFlight in flight in both windows, and a stable window whose p99 is p99.
func servedInput(current int32, ready int, rate, inFlight, p99 float64) *Input {
	spec := policy(1, 30, latencyP99(time.Second, 20))
	in := agentInput(spec, current, agentPods(ready), repeat(ready, inFlight), repeat(ready, inFlight))
	for i := 0; i < ready; i++ {
		name := fmt.Sprintf("test-pod-%d", i)
		st := in.Stable.Pods[name]
		st.RequestRate = rate
		st.InFlightLast = inFlight
		in.Stable.Pods[name] = st
		in.Burst.Pods[name] = window.PodStats{Seconds: 6, RequestRate: rate, InFlight: inFlight, InFlightLast: inFlight}
	}
	in.Stable.Latency = latencySketch(1000, p99)
	in.Burst.Latency = latencySketch(100, p99)
	return in
}

func TestLatencySizesFromDemandOverCapacity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		learned capacity
		in      *Input
		want    int32
	}{
		{"far below target the count follows demand, not the latency ratio",
			// 4 pods at 2 req/s and p99 200ms: HPA's rule would ask for ceil(0.2×4) = 1.
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, servedInput(4, 4, 2, 1, 0.2), 2},
		{"over target, demand above capacity scales up",
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, servedInput(2, 2, 8, 4, 3), 4},
		{"within tolerance of the current count: hold",
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, servedInput(4, 4, 4.2, 2, 0.5), 4},
		{"over target: no scale-down whatever the capacity says",
			// Just after a scale-up: the violation is a backlog, not a capacity.
			capacity{safe: 20, safeLatency: 0.5}, readySince(servedInput(4, 4, 2, 1, 1.5), t0.Add(-10*time.Second)), 4},
		{"over target at a rate proven safe, steady for a window: the requests got heavier",
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-time.Minute)}, servedInput(4, 4, 2, 1, 1.5), 5},
		{"over target at a rate proven safe, steady for less than a window: hold",
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-30 * time.Second)}, servedInput(4, 4, 2, 1, 1.5), 4},
		{"over target while one pod drains a backlog the others hide: nothing learned",
			// Pod 0 sheds 35 of the 40 it held, pod 1 fills from 1 to 40: the sum grows, but
			// pod 0's latencies are those of requests queued before.
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-time.Minute)}, withInFlight(servedInput(4, 4, 2, 1, 1.5), map[int][2]float64{0: {40, 5}, 1: {1, 40}}), 4},
		{"over target in the stable window only, at a rate proven safe: a burst that passed",
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-time.Minute)}, freshWithin(servedInput(4, 4, 2, 1, 1.5)), 4},
		{"over target in the stable window, the burst window silent: a load that stopped",
			// 1000 requests in the stable minute would put 100 in the 6 s burst window.
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-time.Minute)}, silentBurst(servedInput(4, 4, 2, 1, 1.5)), 4},
		{"over target on a target too quiet to fill the burst window: the stable window says",
			// 50 requests a minute put 5 in the burst window, under minRequests 20.
			capacity{safe: 20, safeLatency: 0.5, overSince: t0.Add(-time.Minute)}, withStableRequests(silentBurst(servedInput(4, 4, 2, 1, 1.5)), 50), 5},
		{"within target while a backlog builds: the percentile proves no rate",
			// 2 pods finishing 8 req/s each with p99 500ms, in flight 10 per pod on average and
			// 37 in the newest second: 1.8 req/s more arrive than are served, queued and not
			// yet in the sketch. Learning 8 as safe would plan 12 per replica and ask for 2.
			capacity{safe: 4, safeLatency: 0.9}, withGrowth(servedInput(2, 2, 8, 10, 0.5), 37), 5},
		{"starting pods are coming capacity: nothing is asked twice",
			// 2 Ready pods at 8 req/s each need 4 of 4 req/s; 4 exist, 2 still starting.
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, withStarting(servedInput(4, 2, 8, 4, 3), 2), 4},
		{"a growing backlog is demand",
			// 2 pods finishing 4 req/s each, in flight 10 per pod on average over the stable
			// window and 37 in its newest second: 54 more over 29.5 s, 1.8 req/s not yet
			// served.
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, withGrowth(servedInput(2, 2, 4, 10, 0.5), 37), 3},
		{"requests the agents refused are demand",
			// 2 pods finishing 4 req/s each and refusing 2 more each: 12 req/s at 4.
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, withRejected(servedInput(2, 2, 4, 2, 0.5), 2), 3},
		{"nothing learned: pods still starting are the answer to the latency already",
			// HPA's rule would ask for ceil(3 × 2) = 6.
			capacity{}, withStarting(servedInput(4, 2, 0, 4, 3), 2), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Autoscaler{capacity: map[string]*capacity{"Latency p99": ptrTo(tc.learned)}, recommendations: []timestampedRecommendation{}}
			d := a.Decide(tc.in, t0)
			if d.Metrics[0].RecommendedReplicas != tc.want {
				t.Errorf("latency recommends %d, want %d (%s)", d.Metrics[0].RecommendedReplicas, tc.want, d.Reason)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// freshWithin gives in a burst window whose p99 is within target (200ms): the stable window's
// violation is of requests that finished earlier.
func freshWithin(in *Input) *Input {
	in.Burst.Latency = latencySketch(100, 0.2)
	return in
}

// silentBurst gives in a burst window in which no request finished.
func silentBurst(in *Input) *Input {
	in.Burst.Latency = latencySketch(0, 0)
	return in
}

// withStableRequests makes the stable window's sketch n requests, every tenth as slow as before.
func withStableRequests(in *Input, n int) *Input {
	slow, _ := in.Stable.Latency.Quantile(0.99)
	in.Stable.Latency = latencySketch(n, slow)
	return in
}

// withStarting adds n pods that exist and are not Ready yet.
func withStarting(in *Input, n int) *Input {
	for i := 0; i < n; i++ {
		p := agentPods(1)[0]
		p.Name = fmt.Sprintf("starting-%d", i)
		p.Ready = "False"
		in.Pods = append(in.Pods, p)
	}
	return in
}

// readySince makes every pod Ready since at.
func readySince(in *Input, at time.Time) *Input {
	for i := range in.Pods {
		in.Pods[i].ReadyTransition = at
	}
	return in
}

// withRejected makes every pod's agent refuse rate requests per second in both windows.
func withRejected(in *Input, rate float64) *Input {
	for _, w := range []*Window{&in.Stable, &in.Burst} {
		for name, st := range w.Pods {
			st.RejectedRate = rate
			w.Pods[name] = st
		}
	}
	return in
}

// withInFlight sets, per pod index, the stable window's average in flight and its newest
// second's.
func withInFlight(in *Input, pods map[int][2]float64) *Input {
	for i, v := range pods {
		name := fmt.Sprintf("test-pod-%d", i)
		st := in.Stable.Pods[name]
		st.InFlight, st.InFlightLast = v[0], v[1]
		in.Stable.Pods[name] = st
	}
	return in
}

// withGrowth makes every pod hold level in flight over the burst window and in the newest
// second, above the stable window's average: a backlog that built up and now stands.
func withGrowth(in *Input, level float64) *Input {
	for _, w := range []*Window{&in.Stable, &in.Burst} {
		for name, st := range w.Pods {
			if w == &in.Burst {
				st.InFlight = level
			}
			st.InFlightLast = level
			w.Pods[name] = st
		}
	}
	return in
}

// TestLatencyLearnsAcrossTicks: a step of demand on a target whose replicas serve at most 10
// req/s, the percentile over target once the load is above that. The sizer learns the
// capacity from the windows alone and settles at the fewest replicas within target.
func TestLatencyLearnsAcrossTicks(t *testing.T) {
	const saturation, demand = 10.0, 40.0
	a := &Autoscaler{}
	cur := int32(1)
	now := t0
	var events int
	for tick := 0; tick < 900; tick++ {
		now = now.Add(time.Second)
		load := 2.0
		if tick >= 60 {
			load = demand
		}
		rate := min(load/float64(cur), saturation)
		p := 0.2
		if load/float64(cur) > saturation {
			p = 5
		}
		d := a.Decide(servedInput(cur, int(cur), rate, rate*0.3, p), now)
		if testing.Verbose() && d.DesiredReplicas != cur {
			t.Logf("%d: %s", tick, d.Reason)
		}
		if d.DesiredReplicas != cur {
			a.Scaled(cur, d.DesiredReplicas, now)
			cur = d.DesiredReplicas
			events++
		}
	}
	if want := int32(4); cur != want {
		t.Errorf("settled at %d replicas, want %d (40 req/s at 10 per replica)", cur, want)
	}
	if events > 4 {
		t.Errorf("%d scale events, want at most 4", events)
	}
}

// A step of arrivals shows in the burst window's trend within seconds: the pods' newest second
// against the window's average.
func TestBurstSeesAStepOfArrivals(t *testing.T) {
	learned := capacity{safe: 8, safeLatency: 0.9, saturated: 10}
	for _, tc := range []struct {
		name       string
		last       float64 // in flight per pod in the newest second of the burst window
		want       int32
		wantDemand string
	}{
		// 2 pods finishing 8 req/s each (saturated), 20 in flight on average over the 6 s
		// burst window: 16 req/s served.
		{"flat: what is served is the demand", 20, 2, "16/s"},
		// 35 in flight in the newest second: 15 more per pod over 2.5 s, 12 req/s more
		// arriving than served, 28 req/s at 8 per replica.
		{"rising: the backlog's growth is demand", 35, 4, "28/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := servedInput(2, 2, 8, 20, 0.5)
			for name, st := range in.Burst.Pods {
				st.InFlightLast = tc.last
				in.Burst.Pods[name] = st
			}
			a := &Autoscaler{capacity: map[string]*capacity{"Latency p99": ptrTo(learned)}, recommendations: []timestampedRecommendation{}}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != tc.want || !strings.Contains(d.Reason, "demand "+tc.wantDemand) {
				t.Errorf("desired %d, want %d with demand %s (%s)", d.DesiredReplicas, tc.want, tc.wantDemand, d.Reason)
			}
		})
	}
}

// A backlog metric (queue depth) is held to what the demand rate asks for once a latency
// metric knows the capacity: in burst mode always, since requests queued at a pod stay there
// whether the pods asked for are starting or Ready; outside it while pods start, since they
// are the answer already, and while a pod drains a backlog, which the stable window still
// holds. With every pod Ready, none draining and no burst it is HPA's rule.
func TestBacklogMetricsHeldToTheDemandRate(t *testing.T) {
	learned := capacity{safe: 8, safeLatency: 0.9, saturated: 10}
	for _, tc := range []struct {
		name     string
		burst    bool
		starting int
		stable   float64 // in flight per Ready pod over the stable window
		inFlight float64 // per Ready pod, in the burst window and now
		want     int32
		drain    bool // pod 0 held 60 on average over the stable window and holds 5 now
	}{
		// 2 Ready pods finishing 8 req/s each within target, 40 in flight each in the burst
		// window and now, 10 on average over the stable window: 18 req/s of demand, 3
		// replicas of at least 8 req/s, so the 4 already asked for suffice; queue depth 8
		// reads the 80 in flight as 10.
		{"burst, pods starting: the demand rate decides", true, 2, 10, 40, 4, false},
		// All Ready: the 80 in flight are queued at the 2 pods and stay there; more pods serve
		// only what is still to come, which the demand rate measures.
		{"burst, none starting: the backlog stays where it is, the demand rate decides", true, 0, 10, 40, 3, false},
		// No burst mode, 20 in flight each throughout: 16 req/s of demand, 2 replicas. Queue depth 8
		// reads the 40 in flight as 5 with every pod Ready, and as 5 with 2 more starting (HPA
		// counts them at 0 on a scale-up: 10 per pod of 4), which they already answer.
		{"no burst, pods starting: the count asked for stands", false, 2, 20, 20, 4, false},
		{"no burst, all Ready: queue depth decides", false, 0, 20, 20, 5, false},
		// Pod 0 sheds most of the 60 it held on average over the stable window (5 now): the
		// window's queue depth, 40 per pod, is the backlog that pod queued before, and the
		// pods are enough for the 16 req/s still coming.
		{"no burst, all Ready, a pod drains a backlog: the demand rate decides", false, 0, 20, 20, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := withStarting(withGrowth(servedInput(int32(2+tc.starting), 2, 8, tc.stable, 0.5), tc.inFlight), tc.starting)
			if tc.drain {
				in = withInFlight(in, map[int][2]float64{0: {60, 5}})
			}
			in.Spec = policy(1, 30, latencyP99(time.Second, 20), queueDepth("8"))
			if !tc.burst {
				in.Spec.Burst = &v1alpha1.BurstSpec{Threshold: ptrTo(int32(1000))}
			}
			a := &Autoscaler{capacity: map[string]*capacity{"Latency p99": ptrTo(learned)}, recommendations: []timestampedRecommendation{}}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != tc.want {
				t.Errorf("desired %d, want %d (%s)", d.DesiredReplicas, tc.want, d.Reason)
			}
		})
	}
}
