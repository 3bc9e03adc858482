package decision

import (
	"fmt"
	"math"
	"time"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// stabilize is HPA's stabilizeRecommendationWithBehaviors: it records the unstabilized
// recommendation desired and returns current brought within [the lowest recommendation of
// the scale-up window, the highest of the scale-down window].
func (a *Autoscaler) stabilize(desired, current int32, up, down *v1alpha1.ScalingRules, now time.Time) (recommendation int32, reason, message string) {
	upWindow, downWindow := windowOf(up), windowOf(down)
	upCutoff, downCutoff := now.Add(-upWindow), now.Add(-downWindow)
	upRecommendation, downRecommendation := desired, desired
	kept := a.recommendations[:0]
	for _, r := range a.recommendations {
		if r.timestamp.After(upCutoff) {
			upRecommendation = min(upRecommendation, r.recommendation)
		}
		if r.timestamp.After(downCutoff) {
			downRecommendation = max(downRecommendation, r.recommendation)
		}
		if r.timestamp.Before(upCutoff) && r.timestamp.Before(downCutoff) {
			// Out of both windows for good: HPA reuses such a slot, we drop it.
			continue
		}
		kept = append(kept, r)
	}
	if n := len(kept); n > 0 && kept[n-1].recommendation == desired && !kept[n-1].timestamp.After(now) {
		// A run of equal recommendations weighs in a window exactly as its newest one: keep
		// only that, so a steady target's history stays a few entries long.
		kept[n-1].timestamp = now
		a.recommendations = kept
	} else {
		a.recommendations = append(kept, timestampedRecommendation{desired, now})
	}

	recommendation = max(current, upRecommendation)
	recommendation = min(recommendation, downRecommendation)
	if desired >= current {
		return recommendation, v1alpha1.ReasonScaleUpStabilized, fmt.Sprintf("recent recommendations were lower than current one, applying the lowest recent recommendation (%d within %s)", upRecommendation, formatWindow(upWindow))
	}
	return recommendation, v1alpha1.ReasonScaleDownStabilized, fmt.Sprintf("recent recommendations were higher than current one, applying the highest recent recommendation (%d within %s)", downRecommendation, formatWindow(downWindow))
}

func windowOf(r *v1alpha1.ScalingRules) time.Duration {
	if r == nil || r.StabilizationWindowSeconds == nil {
		return 0
	}
	return time.Duration(*r.StabilizationWindowSeconds) * time.Second
}

// limit is the outcome of the rate policies and min/max on a stabilized recommendation.
type limit struct {
	replicas        int32
	reason, message string
	// note says in a few words what bounded the change, for Decision.Reason; empty if nothing.
	note string
}

// limitRate is HPA's convertDesiredReplicasWithBehaviorRate.
func (a *Autoscaler) limitRate(desired, current, minReplicas, maxReplicas int32, up, down *v1alpha1.ScalingRules, now time.Time) limit {
	// Events of one direction count in the other's periods too, so both are kept as long as
	// the longest period of either.
	longest := max(longestPeriod(up), longestPeriod(down))
	a.scaleUpEvents = pruneEvents(a.scaleUpEvents, longest, now)
	a.scaleDownEvents = pruneEvents(a.scaleDownEvents, longest, now)
	switch {
	case desired > current:
		scaleUpLimit, policy := scaleUpLimitWithRules(current, a.scaleUpEvents, a.scaleDownEvents, up, now)
		// No further scale-up until the scale-up events leave their periods.
		scaleUpLimit = max(scaleUpLimit, current)
		if maxReplicas > scaleUpLimit {
			if desired > scaleUpLimit {
				return limit{scaleUpLimit, v1alpha1.ReasonScaleUpLimit, "the desired replica count is increasing faster than the maximum scale rate", "limited by " + policyNote("scaleUp", up, policy)}
			}
		} else if desired > maxReplicas {
			return limit{maxReplicas, v1alpha1.ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count", fmt.Sprintf("limited by maxReplicas %d", maxReplicas)}
		}
	case desired < current:
		scaleDownLimit, policy := scaleDownLimitWithRules(current, a.scaleUpEvents, a.scaleDownEvents, down, now)
		scaleDownLimit = min(scaleDownLimit, current)
		if minReplicas < scaleDownLimit {
			if desired < scaleDownLimit {
				return limit{scaleDownLimit, v1alpha1.ReasonScaleDownLimit, "the desired replica count is decreasing faster than the maximum scale rate", "limited by " + policyNote("scaleDown", down, policy)}
			}
		} else if desired < minReplicas {
			return limit{minReplicas, v1alpha1.ReasonTooFewReplicas, "the desired replica count is less than the minimum replica count", fmt.Sprintf("limited by minReplicas %d", minReplicas)}
		}
	}
	return limit{replicas: desired, reason: v1alpha1.ReasonDesiredWithinRange, message: "the desired count is within the acceptable range"}
}

// policyNote names the policy that set a limit, e.g. "scaleUp policy Pods 4/15s".
func policyNote(direction string, rules *v1alpha1.ScalingRules, policy *v1alpha1.ScalingPolicy) string {
	if policy == nil {
		if rules != nil && rules.SelectPolicy != nil && *rules.SelectPolicy == v1alpha1.DisabledPolicySelect {
			return direction + " selectPolicy Disabled"
		}
		return direction + " rules"
	}
	unit := ""
	if policy.Type == v1alpha1.PercentScalingPolicy {
		unit = "%"
	}
	return fmt.Sprintf("%s policy %s %d%s/%ds", direction, policy.Type, policy.Value, unit, policy.PeriodSeconds)
}

// selectPolicy returns the rules' selectPolicy, Max when unset.
func selectPolicy(r *v1alpha1.ScalingRules) v1alpha1.ScalingPolicySelect {
	if r == nil || r.SelectPolicy == nil {
		return v1alpha1.MaxChangePolicySelect
	}
	return *r.SelectPolicy
}

// scaleUpLimitWithRules is HPA's calculateScaleUpLimitWithScalingRules; it also returns the
// policy that set the limit (nil when scaling up is disabled).
func scaleUpLimitWithRules(current int32, upEvents, downEvents []scaleEvent, rules *v1alpha1.ScalingRules, now time.Time) (int32, *v1alpha1.ScalingPolicy) {
	sel := selectPolicy(rules)
	if sel == v1alpha1.DisabledPolicySelect || rules == nil {
		return current, nil
	}
	result := int32(math.MinInt32)
	if sel == v1alpha1.MinChangePolicySelect {
		result = math.MaxInt32
	}
	var chosen *v1alpha1.ScalingPolicy
	for i := range rules.Policies {
		p := &rules.Policies[i]
		periodStart := current - changeInPeriod(p.PeriodSeconds, upEvents, now) + changeInPeriod(p.PeriodSeconds, downEvents, now)
		var proposed int32
		switch p.Type {
		case v1alpha1.PodsScalingPolicy:
			proposed = periodStart + p.Value
		case v1alpha1.PercentScalingPolicy:
			// Rounded up, or a small target would never grow.
			proposed = int32(math.Ceil(float64(periodStart) * (1 + float64(p.Value)/100)))
		default:
			continue
		}
		if (sel == v1alpha1.MinChangePolicySelect && proposed < result) || (sel != v1alpha1.MinChangePolicySelect && proposed > result) {
			result, chosen = proposed, p
		}
	}
	return result, chosen
}

// scaleDownLimitWithRules is HPA's calculateScaleDownLimitWithBehaviors; it also returns the
// policy that set the limit (nil when scaling down is disabled).
func scaleDownLimitWithRules(current int32, upEvents, downEvents []scaleEvent, rules *v1alpha1.ScalingRules, now time.Time) (int32, *v1alpha1.ScalingPolicy) {
	sel := selectPolicy(rules)
	if sel == v1alpha1.DisabledPolicySelect || rules == nil {
		return current, nil
	}
	result := int32(math.MaxInt32)
	if sel == v1alpha1.MinChangePolicySelect {
		result = math.MinInt32
	}
	var chosen *v1alpha1.ScalingPolicy
	for i := range rules.Policies {
		p := &rules.Policies[i]
		periodStart := current - changeInPeriod(p.PeriodSeconds, upEvents, now) + changeInPeriod(p.PeriodSeconds, downEvents, now)
		var proposed int32
		switch p.Type {
		case v1alpha1.PodsScalingPolicy:
			proposed = periodStart - p.Value
		case v1alpha1.PercentScalingPolicy:
			proposed = int32(float64(periodStart) * (1 - float64(p.Value)/100))
		default:
			continue
		}
		if (sel == v1alpha1.MinChangePolicySelect && proposed > result) || (sel != v1alpha1.MinChangePolicySelect && proposed < result) {
			result, chosen = proposed, p
		}
	}
	return result, chosen
}

// changeInPeriod is HPA's getReplicasChangePerPeriod.
func changeInPeriod(periodSeconds int32, events []scaleEvent, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var replicas int32
	for _, e := range events {
		if e.timestamp.After(cutoff) {
			replicas += e.replicaChange
		}
	}
	return replicas
}

// longestPeriod is HPA's getLongestPolicyPeriod.
func longestPeriod(r *v1alpha1.ScalingRules) int32 {
	var longest int32
	if r != nil {
		for _, p := range r.Policies {
			longest = max(longest, p.PeriodSeconds)
		}
	}
	return longest
}

// pruneEvents drops the events that no policy period reaches any more (HPA marks them
// outdated for reuse).
func pruneEvents(events []scaleEvent, longestPeriodSeconds int32, now time.Time) []scaleEvent {
	cutoff := now.Add(-time.Duration(longestPeriodSeconds) * time.Second)
	kept := events[:0]
	for _, e := range events {
		if !e.timestamp.Before(cutoff) {
			kept = append(kept, e)
		}
	}
	return kept
}
