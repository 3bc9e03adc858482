package decision

// HPA's replica calculator (pkg/controller/podautoscaler/replica_calculator.go), shared by the
// metric types: pod grouping, the per-pod average with its second pass, resource utilization
// and the object-metric rule.

import (
	"errors"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// HPA's kube-controller-manager defaults for --horizontal-pod-autoscaler-cpu-initialization-period
// and --horizontal-pod-autoscaler-initial-readiness-delay.
const (
	defaultCPUInitializationPeriod       = 5 * time.Minute
	defaultDelayOfInitialReadinessStatus = 30 * time.Second
)

// tolerances are HPA's per-direction tolerances (its Tolerances type).
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool {
	return 1.0-t.down <= ratio && ratio <= 1.0+t.up
}

// podClass is where HPA's groupPods puts a pod for one metric.
type podClass int

const (
	podReady podClass = iota
	podUnready
	podMissing
	podIgnored
)

// readinessRule says how a pod with data is judged ready, by metric.
type readinessRule int

const (
	// readyCondition: the agents' metrics; only a Ready pod serves traffic.
	readyCondition readinessRule = iota
	// cpuRules: HPA's cpu rules with the initialization period.
	cpuRules
	// runningIsReady: HPA's rule for every resource but cpu.
	runningIsReady
)

// classify is HPA's groupPods for one pod.
func (e *evaluator) classify(p *Pod, hasMetric bool, rule readinessRule, sample ResourceUsage) podClass {
	if p.Terminating || p.Phase == corev1.PodFailed {
		return podIgnored
	}
	if p.Phase == corev1.PodPending {
		return podUnready
	}
	if !hasMetric {
		return podMissing
	}
	switch rule {
	case readyCondition:
		if p.Ready != corev1.ConditionTrue {
			return podUnready
		}
	case cpuRules:
		var unready bool
		if p.Ready == "" || p.StartTime.IsZero() {
			unready = true
		} else if p.StartTime.Add(e.cpuInitializationPeriod).After(e.now) {
			// Within the initialization period: ignore the sample if the pod is unready or
			// one metric window has not passed since its last readiness change.
			unready = p.Ready == corev1.ConditionFalse || sample.Timestamp.Before(p.ReadyTransition.Add(sample.Window))
		} else {
			// Ignore the sample if the pod is unready and has never been ready.
			unready = p.Ready == corev1.ConditionFalse && p.StartTime.Add(e.delayOfInitialReadinessStatus).After(p.ReadyTransition)
		}
		if unready {
			return podUnready
		}
	}
	return podReady
}

// podSample is what calcPlainMetricReplicas needs of the grouped pods.
type podSample struct {
	ready, unready, missing int
	sum                     float64 // over the ready pods
}

// plainReplicas is HPA's calcPlainMetricReplicas: the average over the ready pods against
// the target, then the second pass for missing and unready pods. avg is the observed average.
func plainReplicas(cur int32, s podSample, target float64, tol tolerances) (replicas int32, avg, ratio float64, err error) {
	if s.ready == 0 {
		return 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	avg = s.sum / float64(s.ready)
	ratio = avg / target
	scaleUpWithUnready := s.unready > 0 && ratio > 1.0
	if !scaleUpWithUnready && s.missing == 0 {
		if tol.within(ratio) {
			return cur, avg, ratio, nil
		}
		return ceilReplicas(ratio * float64(s.ready)), avg, ratio, nil
	}

	sum, n := s.sum, s.ready
	if s.missing > 0 {
		if ratio < 1.0 {
			// On a scale-down, missing pods count at exactly the target.
			sum += target * float64(s.missing)
			n += s.missing
		} else if ratio > 1.0 {
			// On a scale-up, at zero.
			n += s.missing
		}
	}
	if scaleUpWithUnready {
		n += s.unready
	}
	newRatio := sum / float64(n) / target
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		// Too small a change, or the pods without data flip the direction: hold.
		return cur, avg, ratio, nil
	}
	newReplicas := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1.0 && newReplicas > cur) || (newRatio > 1.0 && newReplicas < cur) {
		return cur, avg, ratio, nil
	}
	return newReplicas, avg, ratio, nil
}

// resourceSample is what GetResourceReplicas needs of the grouped pods, in milli-units.
type resourceSample struct {
	ready, unready, missing int
	usage, requests         int64 // over the ready pods
	// missingUsage is Σ request×max(100,target)/100 over the missing pods (HPA's fallback on
	// a scale-down); missingRequests and unreadyRequests are their requests.
	missingUsage, missingRequests, unreadyRequests int64
}

// utilizationRatio is HPA's GetResourceUtilizationRatio over sums.
func utilizationRatio(usage, requests int64, n int, target int32) (ratio float64, utilization int32, raw int64, err error) {
	if requests == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization = int32(usage * 100 / requests)
	return float64(utilization) / float64(target), utilization, usage / int64(n), nil
}

// resourceReplicas is HPA's GetResourceReplicas after the metrics were fetched.
func resourceReplicas(cur int32, s resourceSample, target int32, tol tolerances) (replicas, utilization int32, raw int64, ratio float64, err error) {
	if s.ready == 0 {
		return 0, 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, utilization, raw, err = utilizationRatio(s.usage, s.requests, s.ready, target)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	scaleUpWithUnready := s.unready > 0 && ratio > 1.0
	if !scaleUpWithUnready && s.missing == 0 {
		if tol.within(ratio) {
			return cur, utilization, raw, ratio, nil
		}
		return ceilReplicas(ratio * float64(s.ready)), utilization, raw, ratio, nil
	}

	usage, requests, n := s.usage, s.requests, s.ready
	if s.missing > 0 {
		if ratio < 1.0 {
			usage += s.missingUsage
			requests += s.missingRequests
			n += s.missing
		} else if ratio > 1.0 {
			requests += s.missingRequests
			n += s.missing
		}
	}
	if scaleUpWithUnready {
		requests += s.unreadyRequests
		n += s.unready
	}
	newRatio, _, _, err := utilizationRatio(usage, requests, n, target)
	if err != nil {
		return 0, utilization, raw, ratio, err
	}
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return cur, utilization, raw, ratio, nil
	}
	newReplicas := ceilReplicas(newRatio * float64(n))
	if (newRatio < 1.0 && newReplicas > cur) || (newRatio > 1.0 && newReplicas < cur) {
		return cur, utilization, raw, ratio, nil
	}
	return newReplicas, utilization, raw, ratio, nil
}

// objectReplicas is HPA's getUsageRatioReplicaCount for a target that is not scaled to zero:
// one value for the whole target against its target, times the ready pods.
func objectReplicas(cur int32, ratio float64, ready int, tol tolerances) int32 {
	if tol.within(ratio) {
		return cur
	}
	return ceilReplicas(ratio * float64(ready))
}

// ceilReplicas rounds up and saturates at MaxInt32, as HPA does for object metrics.
func ceilReplicas(f float64) int32 {
	if !(f < math.MaxInt32) { // also NaN
		return math.MaxInt32
	}
	return int32(math.Ceil(f))
}
