package decision

import (
	"fmt"
	"testing"
	"time"

	"github.com/inferscale/inferscale/scaler/window"
)

func TestCapacityLearning(t *testing.T) {
	type obs struct {
		rate, p float64
		steady  bool
	}
	const target = 1.0
	for _, tc := range []struct {
		name string
		obs  []obs
		want float64 // perReplica
	}{
		{"nothing learned", nil, 0},
		{"no traffic teaches nothing", []obs{{0, 0.1, false}}, 0},
		{"within target: explore above the best safe rate, by the headroom", []obs{{4, 0.8, false}}, 5},
		{"far within target: explore at most 1.5×", []obs{{4, 0.1, false}}, 6},
		{"the best safe rate counts", []obs{{4, 0.5, false}, {2, 0.1, false}}, 6},
		{"saturated: plan at 0.8 of the saturation rate", []obs{{4, 0.5, false}, {10, 3, true}}, 8},
		{"saturated while pods start: a backlog, nothing learned", []obs{{4, 0.5, false}, {10, 3, false}}, 6},
		{"saturated below a better safe rate: the safe one", []obs{{4, 0.5, false}, {4.5, 3, true}}, 4},
		{"the lowest saturation rate counts", []obs{{4, 0.5, false}, {10, 3, true}, {12, 5, true}, {9, 2, true}}, 7.2},
		{"a violation at a rate proven safe, after a scale-up, is a transient", []obs{{4, 0.5, false}, {3, 5, false}}, 6},
		{"a violation at a rate proven safe, steady, relearns", []obs{{4, 0.5, true}, {3, 5, true}}, 2.4},
		{"a safe rate at the saturation rate keeps it", []obs{{4, 0.5, false}, {10, 3, true}, {10.5, 0.9, false}}, 10.5},
		{"a safe rate clearly above the saturation rate forgets it", []obs{{4, 0.5, false}, {10, 3, true}, {12, 0.9, false}}, 12 / 0.9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c capacity
			for _, o := range tc.obs {
				c.observe(o.rate, o.p, target, o.steady)
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
		in.Stable.Pods[name] = st
		in.Burst.Pods[name] = window.PodStats{Seconds: 6, RequestRate: rate, InFlight: inFlight}
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
		{"over target at a rate proven safe, steady: the requests got heavier",
			capacity{safe: 20, safeLatency: 0.5}, servedInput(4, 4, 2, 1, 1.5), 5},
		{"starting pods are coming capacity: nothing is asked twice",
			// 2 Ready pods at 8 req/s each need 4 of 4 req/s; 4 exist, 2 still starting.
			capacity{safe: 4, safeLatency: 0.9, saturated: 5}, withStarting(servedInput(4, 2, 8, 4, 3), 2), 4},
		{"a growing backlog is demand",
			// 2 pods finishing 4 req/s each, in flight up from 10 to 37 per pod between the
			// stable and the burst window: 54 more over 27 s, 2 req/s not yet served.
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

// withGrowth sets every pod's burst-window in-flight average to burst.
func withGrowth(in *Input, burst float64) *Input {
	for name, st := range in.Burst.Pods {
		st.InFlight = burst
		in.Burst.Pods[name] = st
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

// While pods are starting, a backlog metric's burst demand is held to what the demand rate
// asks for: the backlog of the wait is not demand for more pods.
func TestBurstCountsStartingPodsAsComingCapacity(t *testing.T) {
	spec := policy(1, 30, latencyP99(time.Second, 20), queueDepth("8"))
	learned := capacity{safe: 8, safeLatency: 0.9, saturated: 10}
	for _, tc := range []struct {
		name     string
		starting int
		want     int32
	}{
		// 2 Ready pods finishing 8 req/s each within target, their in-flight up from 10 to 40
		// each in the burst window: 18.2 req/s of demand, 3 replicas of at least 8 req/s, so
		// the 4 already asked for suffice; queue depth 8 reads the 80 in flight as 10.
		{"pods starting: the demand rate decides", 2, 4},
		{"none starting: the backlog is real and queue depth decides", 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := withStarting(withGrowth(servedInput(int32(2+tc.starting), 2, 8, 10, 0.5), 40), tc.starting)
			in.Spec = spec
			a := &Autoscaler{capacity: map[string]*capacity{"Latency p99": ptrTo(learned)}, recommendations: []timestampedRecommendation{}}
			d := a.Decide(in, t0)
			if d.DesiredReplicas != tc.want {
				t.Errorf("desired %d, want %d (%s)", d.DesiredReplicas, tc.want, d.Reason)
			}
		})
	}
}
