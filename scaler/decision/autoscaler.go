package decision

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
)

// Autoscaler holds what one policy's decisions remember from tick to tick. The zero value is
// ready to use; the caller keeps one per policy and passes every tick's input to Decide.
type Autoscaler struct {
	// recommendations are the unstabilized recommendations of recent ticks (HPA's
	// a.recommendations[key]); nil until the first decision.
	recommendations []timestampedRecommendation
	// scaleUpEvents and scaleDownEvents are the changes the caller made (HPA's
	// a.scaleUpEvents / a.scaleDownEvents).
	scaleUpEvents, scaleDownEvents []scaleEvent

	// lastScaleUp is when the caller last scaled up (Scaled); zero before the first.
	lastScaleUp time.Time

	// burstLast is the last tick the burst threshold was crossed; zero outside burst mode.
	burstLast time.Time
	// burstPeak is the largest recommendation since burst mode began (Knative's maxPanicPods).
	burstPeak int32

	// capacity is what each latency metric learned of the target (evaluation.driving).
	capacity map[string]*capacity

	// cpuInit and readinessDelay override HPA's --horizontal-pod-autoscaler-cpu-initialization-period
	// and --horizontal-pod-autoscaler-initial-readiness-delay (5 min, 30 s) when positive;
	// the ported HPA tests use theirs (2 min, 10 s).
	cpuInit, readinessDelay time.Duration

	// startDelay is the start time, creation to Ready, of the pod that became Ready last, at
	// startDelayAt; zero until one did (spec.scaleDownHold).
	startDelay   time.Duration
	startDelayAt time.Time
	// holdWindow is the scale-down window the hold gave the last decision, flapWindow the
	// backed-off one for scale-downs to flapAt or fewer (zero: no hold); holdBackoff is the
	// factor between them, aboveFlap the last tick whose recommendation was above flapAt
	// (see holdFlap, holdScaled).
	holdWindow, flapWindow time.Duration
	holdBackoff            int
	flapAt                 int32
	aboveFlap              time.Time
	// lastScaleDown is when the caller last scaled down, from lastScaleDownFrom replicas,
	// under a hold of lastScaleDownHold; zero before the first.
	lastScaleDown     time.Time
	lastScaleDownFrom int32
	lastScaleDownHold time.Duration
}

type timestampedRecommendation struct {
	recommendation int32
	timestamp      time.Time
}

type scaleEvent struct {
	replicaChange int32 // always positive: pods added for an up event, removed for a down one
	timestamp     time.Time
}

// Scaled records that the caller changed the target from `from` to `to` replicas at now. Call
// it once the /scale write succeeded (HPA's storeScaleEvent): rate policies count only changes
// that happened.
func (a *Autoscaler) Scaled(from, to int32, now time.Time) {
	a.holdScaled(from, to, now)
	switch {
	case to > from:
		a.scaleUpEvents = append(a.scaleUpEvents, scaleEvent{to - from, now})
		a.lastScaleUp = now
	case to < from:
		a.scaleDownEvents = append(a.scaleDownEvents, scaleEvent{from - to, now})
		a.lastScaleDown, a.lastScaleDownFrom = now, from
	}
}

// Decide computes the decision for in at now and updates the Autoscaler's history. It never
// panics on its input: a spec that was not defaulted is defaulted, a metric it cannot read is
// an invalid metric.
func (a *Autoscaler) Decide(in *Input, now time.Time) Decision {
	cur := in.CurrentReplicas
	d := Decision{CurrentReplicas: cur, DesiredReplicas: cur}
	c := conditions{now: now}
	if in.Spec == nil {
		c.set(v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonInvalidMetricSourceType, "the policy has no spec")
		return a.hold(&d, &c, fmt.Sprintf("no spec: holding %d", cur))
	}
	spec := defaulted(in.Spec)
	minReplicas, maxReplicas := *spec.MinReplicas, spec.MaxReplicas
	stableWindow := seconds(*spec.StableWindowSeconds)
	a.observeStartTime(in.Pods)
	up := spec.Behavior.ScaleUp
	down, hold := a.scaleDownRules(spec, stableWindow)

	// HPA's recordInitialRecommendation: the first decision remembers the current count, so
	// a restarted scaler waits a scale-down window before going below it.
	if a.recommendations == nil {
		a.recommendations = []timestampedRecommendation{{cur, now}}
	}

	if a.capacity == nil {
		a.capacity = map[string]*capacity{}
	}
	e := evaluator{
		in: in, win: &in.Stable, now: now, cur: cur, capacities: a.capacity, learn: true,
		tol:                           tolerancesOf(spec),
		ready:                         readyPods(in.Pods),
		cpuInitializationPeriod:       a.cpuInitializationPeriod(),
		delayOfInitialReadinessStatus: a.delayOfInitialReadinessStatus(),
	}
	evals := make([]evaluation, len(spec.Metrics))
	d.Metrics = make([]v1alpha1.MetricStatus, len(spec.Metrics))
	var rec int32
	var driving *evaluation
	var firstInvalid *evaluation
	invalid, agentMetrics := 0, false
	sized := int32(-1) // the largest demand sized from a rate ÷ a learned capacity
	var demand int32   // the largest demand of any metric, before tolerances and guards
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		agentMetrics = agentMetrics || isAgentMetric(m)
		ev := &evals[i]
		e.evaluate(m, ev)
		d.Metrics[i] = ev.status
		if ev.err == nil && !ev.abstain {
			demand = max(demand, ev.demand)
			if ev.sized {
				sized = max(sized, ev.demand)
			}
		}
	}
	for i := range spec.Metrics {
		ev := &evals[i]
		if comingCapacity(&e, &spec.Metrics[i], ev, sized) {
			ev.replicas = max(cur, sized)
			d.Metrics[i].RecommendedReplicas = ev.replicas
		}
		switch {
		case ev.err != nil:
			if firstInvalid == nil {
				firstInvalid = ev
			}
			invalid++
		case ev.abstain:
		case driving == nil || ev.replicas > rec:
			// HPA's "replicas == 0 || proposal > replicas": the first of equals drives.
			rec, driving = ev.replicas, ev
		}
	}

	// Guards that come before the metrics in HPA's reconcileAutoscaler, and ours.
	switch {
	case in.HPAConflict != "":
		c.fromMetrics(invalid, len(evals), firstInvalid, driving)
		c.set(v1alpha1.AbleToScale, metav1.ConditionFalse, v1alpha1.ReasonHPAConflict,
			fmt.Sprintf("HorizontalPodAutoscaler %q scales the same target; inferscale leaves it alone", in.HPAConflict))
		return a.hold(&d, &c, fmt.Sprintf("HorizontalPodAutoscaler %s scales the same target: holding %d", in.HPAConflict, cur))
	case cur == 0:
		c.set(v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonScalingDisabled, "scaling is disabled since the replica count of the target is zero")
		return a.hold(&d, &c, "target scaled to zero: scaling disabled")
	case cur > maxReplicas:
		c.fromMetrics(invalid, len(evals), firstInvalid, driving)
		c.set(v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonTooManyReplicas, "current number of replicas above maxReplicas")
		d.DesiredReplicas = maxReplicas
		d.Reason = fmt.Sprintf("current replicas above maxReplicas %d: %d → %d", maxReplicas, cur, maxReplicas)
		d.Conditions = c.list()
		return d
	case cur < minReplicas:
		c.fromMetrics(invalid, len(evals), firstInvalid, driving)
		c.set(v1alpha1.ScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonTooFewReplicas, "current number of replicas below minReplicas")
		d.DesiredReplicas = minReplicas
		d.Reason = fmt.Sprintf("current replicas below minReplicas %d: %d → %d", minReplicas, cur, minReplicas)
		d.Conditions = c.list()
		return d
	}

	// HPA: when every metric is invalid there is nothing to act on.
	if invalid == len(evals) {
		c.fromMetrics(invalid, len(evals), firstInvalid, driving)
		msg := "no metric configured"
		if firstInvalid != nil {
			msg = firstInvalid.err.Error()
		}
		return a.hold(&d, &c, fmt.Sprintf("no usable metric (%s): holding %d", msg, cur))
	}

	// Burst mode, on the agents' metrics over the burst window.
	burstRec, burstEval, burstOK := a.burstRecommendation(spec, &in.Burst, &e)
	threshold := float64(*spec.Burst.Threshold) / 100
	over := burstOK && float64(burstRec) >= threshold*float64(max(e.ready, 1))
	switch {
	case over:
		a.burstLast = now
	case !a.burstLast.IsZero() && a.burstLast.Add(stableWindow).Before(now):
		// A whole stable window without crossing the threshold: the surge is in the stable
		// window's data now.
		a.burstLast, a.burstPeak = time.Time{}, 0
	}
	d.Burst = !a.burstLast.IsZero()
	// evidence is what burst mode may go to past the scale-up rate policies: the largest
	// recommendation since it began that rests on more than one pod (evidenced). Anything
	// above it, a single pod's claim included, goes through the rate policies as usual.
	var evidence, tickEvidence int32
	if d.Burst {
		if burstOK && burstRec > rec {
			rec, driving = burstRec, &burstEval
		}
		capped := evidenced(&in.Burst)
		if r, _, ok := a.burstRecommendation(spec, &capped, &e); ok {
			evidence = min(r, rec)
		}
		stableCapped := evidenced(&in.Stable)
		se := e
		se.win, se.learn = &stableCapped, false
		ev := new(evaluation)
		for i := range spec.Metrics {
			if m := &spec.Metrics[i]; isAgentMetric(m) {
				if se.evaluate(m, ev); ev.err == nil && !ev.abstain {
					evidence = max(evidence, min(ev.replicas, rec))
				}
			}
		}
		tickEvidence = evidence
		evidence = max(evidence, a.burstPeak)
		a.burstPeak = evidence
	}
	d.Recommendation = max(rec, evidence)
	desc := describeDriver(driving, rec)

	// HPA: an invalid metric blocks a scale-down, as does a window not yet full of data.
	if invalid > 0 && rec < cur {
		c.failed(firstInvalid)
		return a.hold(&d, &c, fmt.Sprintf("%s: scale-down to %d blocked by invalid metric %s (%s): holding %d", desc, rec, firstInvalid.driving, firstInvalid.err, cur))
	}
	if agentMetrics && in.Covered < stableWindow && rec < cur {
		// A partial window counts as a recommendation of the current count, so the scale-down
		// window starts only once the reports cover the stable window. After a failover the
		// new leader cannot know when the load last changed; at worst it just dropped, and
		// the old leader would then have needed its window to slide past the drop and a whole
		// scale-down window after that. The initial recommendation alone would expire while
		// the window fills.
		a.stabilize(cur, cur, up, down, now)
		c.set(v1alpha1.ScalingActive, metav1.ConditionFalse, v1alpha1.ReasonIncompleteWindow,
			fmt.Sprintf("reports cover %s of the %s stable window; scale-down waits for a full window", formatWindow(in.Covered.Truncate(time.Second)), formatWindow(stableWindow)))
		return a.hold(&d, &c, fmt.Sprintf("%s: scale-down to %d waits for a full %s window of reports: holding %d", desc, rec, formatWindow(stableWindow), cur))
	}
	c.fromMetrics(invalid, len(evals), firstInvalid, driving)
	if driving != nil {
		d.DrivingMetric = driving.driving
	}

	var l limit
	if d.Burst {
		// Record this tick's recommendation so the scale-down window covers the spike; not
		// the peak burst mode holds, which would hold it a second window after burst mode
		// ends. What more than one pod evidences is gone to at once, skipping scale-up
		// stabilization and the rate policies; the rest goes through them as outside burst
		// mode; never down.
		stabilized, _, _ := a.stabilize(max(rec, tickEvidence), cur, up, down, now)
		l = a.limitRate(stabilized, cur, minReplicas, maxReplicas, up, down, now)
		if l.replicas < cur {
			l = limit{replicas: cur, reason: v1alpha1.ReasonDesiredWithinRange, message: "the desired count is within the acceptable range"}
		}
		if evidence > l.replicas {
			l = limit{replicas: evidence, reason: v1alpha1.ReasonDesiredWithinRange, message: "the desired count is within the acceptable range"}
			switch {
			case selectPolicy(up) == v1alpha1.DisabledPolicySelect:
				l = limit{cur, v1alpha1.ReasonScaleUpLimit, "the desired replica count is increasing faster than the maximum scale rate", "limited by scaleUp selectPolicy Disabled"}
			case l.replicas > maxReplicas:
				l = limit{maxReplicas, v1alpha1.ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count", fmt.Sprintf("limited by maxReplicas %d", maxReplicas)}
			}
		}
		c.set(v1alpha1.AbleToScale, metav1.ConditionTrue, v1alpha1.ReasonBurstMode,
			fmt.Sprintf("burst mode: the %s burst window asks for %d replicas, at least %d%% of the %d ready; no scale-down until a %s window passes without burst",
				formatWindow(in.Burst.Window), burstRec, *spec.Burst.Threshold, e.ready, formatWindow(stableWindow)))
		c.limited(l, max(rec, evidence, cur))
		switch {
		case evidence > rec:
			l.note = join(fmt.Sprintf("burst mode holds its peak of %d until %s pass without burst", evidence, formatWindow(stableWindow)), l.note)
		case evidence < rec && l.replicas < min(rec, maxReplicas) && l.reason == v1alpha1.ReasonScaleUpLimit && evidence <= cur:
			l.note = join("no second pod evidences the burst", l.note)
		}
	} else {
		stabilized, reason, message := a.stabilize(rec, cur, up, down, now)
		flap := ""
		if held, why := a.holdFlap(demand, stabilized, cur, now); why != "" {
			stabilized, reason, message, flap = held, v1alpha1.ReasonScaleDownStabilized, why, why
		}
		if stabilized != rec {
			c.set(v1alpha1.AbleToScale, metav1.ConditionTrue, reason, message)
		} else {
			c.set(v1alpha1.AbleToScale, metav1.ConditionTrue, v1alpha1.ReasonReadyForNewScale, "recommended size matches current size")
		}
		l = a.limitRate(stabilized, cur, minReplicas, maxReplicas, up, down, now)
		c.limited(l, stabilized)
		if stabilized != rec {
			switch {
			case reason == v1alpha1.ReasonScaleUpStabilized && stabilized < rec:
				l.note = join(fmt.Sprintf("stabilized: lowest recommendation of the last %s is %d", formatWindow(windowOf(up)), stabilized), l.note)
			case flap != "":
				l.note = join(flap, l.note)
			case reason == v1alpha1.ReasonScaleDownStabilized && stabilized > rec:
				s := fmt.Sprintf("stabilized: highest recommendation of the last %s is %d", formatWindow(windowOf(down)), stabilized)
				if hold != "" {
					s += " (" + hold + ")"
				}
				l.note = join(s, l.note)
			}
		}
	}
	d.DesiredReplicas = l.replicas

	// More pods would not be scheduled either while those just asked for are not.
	if d.DesiredReplicas > cur {
		if p, until := a.unschedulable(in.Pods, now); p != "" {
			c.set(v1alpha1.AbleToScale, metav1.ConditionFalse, v1alpha1.ReasonPodsUnschedulable,
				fmt.Sprintf("pod %s of the last scale-up is unschedulable; no scale-up until it is scheduled or %s", p, until.UTC().Format(time.RFC3339)))
			d.DesiredReplicas = cur
			d.Hold = true
			l.note = fmt.Sprintf("scale-up to %d held: pod %s is unschedulable", l.replicas, p)
		}
	}

	if d.Burst {
		desc = "burst: " + desc
	}
	d.Reason = fmt.Sprintf("%s: %d → %d", desc, cur, d.DesiredReplicas)
	if l.note != "" {
		d.Reason += " (" + l.note + ")"
	}
	d.Conditions = c.list()
	return d
}

// hold finishes a decision that keeps the current count.
func (a *Autoscaler) hold(d *Decision, c *conditions, reason string) Decision {
	d.DesiredReplicas = d.CurrentReplicas
	d.Hold = true
	d.Reason = reason
	c.setDefault(v1alpha1.ScalingLimited, metav1.ConditionFalse, v1alpha1.ReasonNotScaling, "no scaling: "+reason)
	d.Conditions = c.list()
	return *d
}

// comingCapacity reports whether the pods already there or asked for are the answer to ev: a
// latency metric has learned the capacity and sized the demand (sized ≥ 0), ev, another of the
// agents' metrics, asks for more than the current count and that demand, and pods are starting
// or a ready pod drains a backlog. What the ready pods hold in flight grows by the backlog of
// the wait every tick while pods start, and a metric of it (queue depth, a model's waiting
// requests) would ask again every tick (2 → 4 → 8 → 16 while the first pods still load their
// model); once they are Ready, the stable window still holds that backlog while the old pods
// drain it, and the metric would ask for pods that get only new requests. The demand rate
// says whether the pods are enough.
func comingCapacity(e *evaluator, m *v1alpha1.MetricSpec, ev *evaluation, sized int32) bool {
	if sized < 0 || !isAgentMetric(m) || ev.sized || ev.err != nil || ev.abstain || ev.replicas <= max(e.cur, sized) {
		return false
	}
	if e.ready < int(e.cur) {
		return true
	}
	_, _, _, draining, _ := e.served()
	return draining
}

// burstRecommendation evaluates the agents' metrics over win (the burst window) and returns the
// largest demand (Knative's desired panic pod count) and the evaluation that gave it; ok is
// false when no metric gave one.
func (a *Autoscaler) burstRecommendation(spec *v1alpha1.AutoscalingPolicySpec, win *Window, stable *evaluator) (rec int32, driving evaluation, ok bool) {
	e := *stable
	e.win, e.learn = win, false
	ev := new(evaluation) // one for all metrics: evaluate's argument lives on the heap
	sized := int32(-1)    // the largest demand sized from a rate ÷ a learned capacity
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		if !isAgentMetric(m) {
			continue
		}
		e.evaluate(m, ev)
		if ev.err != nil || ev.abstain {
			continue
		}
		if ev.sized {
			sized = max(sized, ev.demand)
		}
		if !ok || ev.demand > rec {
			rec, driving, ok = ev.demand, *ev, true
		}
	}
	// A backlog is no demand for more replicas: requests queued at a pod stay there (the
	// Service balances connections, nothing moves a queued request to a new pod), so what the
	// pods hold in flight, which grows by the backlog (while pods start, every tick), asks
	// for pods that would get only new requests; a metric of it (queue depth, a model's
	// waiting requests) would ask again every tick, 2 → 6 → 11 → 22 → maxReplicas while the
	// first pods drain. The demand rate, which counts the backlog's growth but not its size,
	// says how many pods the requests still to come need.
	if ok && sized >= 0 && rec > max(e.cur, sized) {
		rec = max(e.cur, sized)
		driving.demand = rec
	}
	return rec, driving, ok
}

// describeDriver says what drove the recommendation, e.g.
// "p99 812ms > target 500ms over 60s".
func describeDriver(ev *evaluation, rec int32) string {
	if ev == nil {
		return fmt.Sprintf("no metric asks for replicas (recommendation %d)", rec)
	}
	cmp := "≈"
	switch {
	case ev.ratio > 1:
		cmp = ">"
	case ev.ratio < 1:
		cmp = "<"
	}
	s := fmt.Sprintf("%s %s %s target %s", ev.label, ev.current, cmp, ev.target)
	if ev.window > 0 {
		s += " over " + formatWindow(ev.window)
	}
	return s
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "; " + b
}

// defaulted returns spec when every default is filled, as the caller should pass it, and a
// defaulted copy otherwise.
func defaulted(spec *v1alpha1.AutoscalingPolicySpec) *v1alpha1.AutoscalingPolicySpec {
	if spec.MinReplicas == nil || spec.StableWindowSeconds == nil || spec.Burst == nil ||
		spec.Burst.Threshold == nil || spec.Burst.WindowSeconds == nil || spec.Behavior == nil ||
		!rulesDefaulted(spec.Behavior.ScaleUp) || !rulesDefaulted(spec.Behavior.ScaleDown) {
		return spec.Defaulted()
	}
	return spec
}

func rulesDefaulted(r *v1alpha1.ScalingRules) bool {
	return r != nil && r.StabilizationWindowSeconds != nil && r.SelectPolicy != nil && len(r.Policies) > 0 && r.Tolerance != nil
}

func tolerancesOf(spec *v1alpha1.AutoscalingPolicySpec) tolerances {
	t := tolerances{down: defaultTolerance, up: defaultTolerance}
	if r := spec.Behavior.ScaleDown; r.Tolerance != nil {
		t.down = r.Tolerance.AsApproximateFloat64()
	}
	if r := spec.Behavior.ScaleUp; r.Tolerance != nil {
		t.up = r.Tolerance.AsApproximateFloat64()
	}
	return t
}

var defaultTolerance = v1alpha1.DefaultTolerance.AsApproximateFloat64()

func seconds(s int32) time.Duration { return time.Duration(s) * time.Second }

// readyPods is HPA's getReadyPodsCount, leaving out terminating pods: they take no new
// traffic.
func readyPods(pods []Pod) int {
	n := 0
	for i := range pods {
		p := &pods[i]
		if p.Phase == corev1.PodRunning && p.Ready == corev1.ConditionTrue && !p.Terminating {
			n++
		}
	}
	return n
}

func (a *Autoscaler) cpuInitializationPeriod() time.Duration {
	if a.cpuInit > 0 {
		return a.cpuInit
	}
	return defaultCPUInitializationPeriod
}

func (a *Autoscaler) delayOfInitialReadinessStatus() time.Duration {
	if a.readinessDelay > 0 {
		return a.readinessDelay
	}
	return defaultDelayOfInitialReadinessStatus
}
