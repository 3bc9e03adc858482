package decision

import (
	"math"
	"time"
)

// What the latency sizer plans with; see capacity.
const (
	// capacityHeadroom is the share of the saturation rate (a replica's throughput while its
	// latency is over target) that the sizer plans one replica for.
	capacityHeadroom = 0.8
	// maxExplore bounds how far above the highest rate proven within target the sizer plans
	// while the target has never been seen saturated.
	maxExplore = 1.5
	// staleMargin: a safe rate this much above the saturation rate makes it stale.
	staleMargin = 1.1
)

// capacity is what one latency metric learned of its target: the request rate one ready
// replica serves with the percentile within target. Latency is flat until a replica
// saturates and then explodes, so it says little about how many replicas are needed; the
// rate at which it stays within target does. safe is a lower bound of that rate, saturated an
// upper one, both learned online from the windows (Little's law ties them to the in-flight
// gauge: a replica serving r requests/s at latency W holds r·W in flight).
type capacity struct {
	// safe is the highest completion rate per ready replica seen with the percentile within
	// target; safeLatency is the percentile then, in seconds.
	safe, safeLatency float64
	// saturated is the lowest completion rate per ready replica seen with the percentile over
	// target in a steady window (every pod Ready throughout); 0 while none was.
	saturated float64
	// overSince is when the percentile went steadily over target at a rate proven safe; zero
	// while it is not.
	overSince time.Time
}

// observation is what one stable window shows a latency metric.
type observation struct {
	// rate is the completions per ready replica; p the percentile and target its target, in
	// seconds.
	rate, p, target float64
	// steady: every pod of the target was Ready for the whole window and no backlog is
	// building up or draining, so a violation cannot be one left from fewer replicas.
	steady bool
	// fresh: the burst window's percentile is over target too (or it has too few requests
	// to say), so a violation is of the load now and not of a burst that already passed
	// and stays in the stable window.
	fresh bool
	// backlog: the agents refused requests or requests queued faster than served.
	backlog bool
	now     time.Time
	// window is the stable window's length: how long a violation at a rate proven safe must
	// last before it counts as heavier requests.
	window time.Duration
}

// observe learns from one stable window.
func (c *capacity) observe(o observation) {
	rate, p, target := o.rate, o.p, o.target
	if !(rate > 0) || math.IsInf(rate, 0) {
		return
	}
	switch {
	case p <= target && o.backlog:
		// Within target while requests are refused or queue up: the percentile knows only
		// the requests that got their answer, so it proves no rate safe.
	case p <= target:
		if rate > c.safe {
			c.safe, c.safeLatency = rate, p
		}
		if c.saturated > 0 && c.safe > staleMargin*c.saturated {
			// The target now serves clearly more than it once saturated at (lighter
			// requests): what was learned is stale.
			c.saturated = 0
		}
	case !o.steady || !o.fresh:
		// Over target while pods start or just started, while a pod drains, or only in
		// requests of a burst that has passed: a backlog left from fewer replicas or a
		// transient (their completion rate says nothing of what one replica can serve).
	case rate > c.safe:
		if c.saturated == 0 || rate < c.saturated {
			c.saturated = rate
		}
	default:
		// Over target at a rate once proven safe, steadily, for a whole window: the requests
		// got heavier. Start again from this rate.
		if c.overSince.IsZero() {
			c.overSince = o.now
		}
		if o.now.Before(c.overSince.Add(o.window)) {
			return
		}
		c.saturated, c.safe = rate, min(c.safe, capacityHeadroom*rate)
	}
	c.overSince = time.Time{}
}

// perReplica is the rate one replica is planned for; 0 while nothing was learned.
func (c *capacity) perReplica(target float64) float64 {
	switch {
	case c.saturated > 0:
		return max(c.safe, capacityHeadroom*c.saturated)
	case c.safe > 0:
		// Never seen saturated: plan somewhat above the best rate proven within target, the
		// more the further the percentile was below target, so that the count can come down
		// to what the target needs.
		explore := maxExplore
		if c.safeLatency > 0 {
			explore = min(maxExplore, max(1, target/c.safeLatency))
		}
		return c.safe * explore
	}
	return 0
}
