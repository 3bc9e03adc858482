package decision

import (
	"math"
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
}

// observe learns from one stable window: rate is the completions per ready replica, p the
// percentile and target its target, in seconds; steady says that every pod of the target was
// Ready for the whole window and no backlog is draining, so a violation cannot be one left
// from fewer replicas.
func (c *capacity) observe(rate, p, target float64, steady bool) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return
	}
	switch {
	case p <= target:
		if rate > c.safe {
			c.safe, c.safeLatency = rate, p
		}
		if c.saturated > 0 && c.safe > staleMargin*c.saturated {
			// The target now serves clearly more than it once saturated at (lighter
			// requests): what was learned is stale.
			c.saturated = 0
		}
	case !steady:
		// Over target while pods start or just started: a backlog left from fewer replicas
		// (their completion rate says nothing of what one replica can serve).
	case rate > c.safe:
		if c.saturated == 0 || rate < c.saturated {
			c.saturated = rate
		}
	default:
		// Over target at a rate once proven safe: the requests got heavier. Start again
		// from this rate.
		c.saturated, c.safe = rate, min(c.safe, capacityHeadroom*rate)
	}
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
