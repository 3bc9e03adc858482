// Package decision is the scaler's pure decision core: one policy's spec, the target's pods,
// the agents' windows and metrics.k8s.io usage in, with the time passed in as now; a replica
// count, a reason, metric statuses and HPA conditions out. No client, no goroutines, no I/O.
//
// # State
//
// HPA keeps, per autoscaler, the recommendations of the last stabilization window and the
// scale events of the last policy periods; Knative's autoscaler keeps when panic mode started
// and the most pods it asked for since. Here that state lives in an Autoscaler, one per policy,
// owned by the caller (the controller keeps a map from policy to *Autoscaler and drops an
// entry when its policy goes). Decide reads and updates it; Scaled records a scale event once
// the caller's /scale write succeeded, exactly where HPA calls storeScaleEvent. An Autoscaler
// is not safe for concurrent use; the controller decides for one policy at a time.
//
// # Metric types
//
// Each type of spec.metrics[] is one file (latency.go, queuedepth.go, requestrate.go,
// modelmetric.go, gpu.go, resource.go) with one implementation of the metricType interface
// (metrics.go), registered from the file's init: describe names the metric and returns its
// target, fromAgents says whether it reads the agents' windows or metrics.k8s.io, and evaluate
// sets its value and recommendation. What every type shares (a positive target, pods, reports
// in the window, the status entry) happens once, in evaluator.evaluate, and HPA's replica
// calculator (calc.go: pod grouping, the per-pod average with its second pass, resource
// utilization, the object-metric rule) is what the types call. Adding a metric type is adding
// a file.
//
// # Per metric: HPA's replica calculator
//
// Every metric gives its own recommendation and the largest wins (HPA's
// computeReplicasForMetrics). Averages per pod (QueueDepth, RequestRate, ModelMetric, GPU,
// Resource) follow calcPlainMetricReplicas and GetResourceReplicas line by line: usage ratio
// over the ready pods with data, tolerance per direction, then HPA's second pass when pods are
// missing data (counted at the target on a scale-down, at zero on a scale-up) or unready (at
// zero on a scale-up), holding when that pass flips the direction. Pod grouping is HPA's
// groupPods: terminating and failed pods are ignored, pending ones are unready; cpu applies
// HPA's initialization-period rules, memory counts running pods as HPA does, and the agents'
// metrics count only Ready pods, since a pod that is not Ready gets no traffic from its
// Service and its idle gauges would dilute the average. Resource Utilization keeps HPA's
// integer percent; the agents' metrics are averaged in float64 rather than in integer
// milli-units.
//
// QueueDepth is the agents' in-flight gauge, which already counts requests waiting in the
// agent's queue. GPU reads the signal it names (reportv1.GPUSignal), Resource nvidia.com/gpu the
// NVML utilization; a pod whose agent reported more GPUs than the pod requests without knowing
// which are the pod's makes either invalid (ScalingActive=False, GPUUnattributed).
//
// Latency reads one sketch of the window: the whole request's latency, the time to its first
// byte (timeToFirstByte) or, per event stream of two events or more, the time per output token
// (timePerOutputToken), all measured by the agents.
//
// Latency is the guard, not the sizer: latency is flat until a replica saturates and then
// explodes, so percentile ÷ target × replicas asks for a fraction of the pods far below target
// and for maxReplicas above it. Each latency metric learns its target's capacity per ready
// replica online (capacity.go): the highest completion rate per replica seen with the
// percentile within target and no backlog building (safe: no request refused and what the
// pods hold in flight growing by at most a tenth of what they complete, since a request still
// queued has no time to first byte yet and a percentile within target then flatters), and the
// lowest seen over target in a steady window, every
// pod Ready throughout, no pod draining a backlog and the burst window over target too, so the
// violation is of the load now and not of a burst that passed (saturated). It plans one replica for 0.8 ×
// saturated (never below safe), or, before any saturation, for safe × min(1.5, target ÷ the
// percentile then), which lets an over-provisioned target come down. It recommends demand ÷
// that rate, demand being the ready pods' completions, the requests their agents refused
// (queue full) and the growth of what they hold in flight (Little's law: a backlog building up
// is demand not yet served), read per window as the newest second's in-flight against the
// window's average over the half window between them, so a step shows in the burst window
// within seconds; within the scale-up or
// scale-down tolerance of the current count it holds, and while the percentile is over target
// it never recommends fewer than the current count. The recommendation is a count, not a
// multiple of the ready pods, so pods still starting are capacity coming: a slow start asks
// for nothing twice. For the same reason, while pods start or a ready pod drains a backlog, and
// a latency metric has sized the demand, any other metric of the agents (queue depth, a
// model's gauge, which grow by the backlog of the wait at the ready pods every tick and keep
// it in the stable window while it drains) recommends at most the larger of the current count
// and that demand. A violation at a rate once proven safe, steady for a whole
// stable window, means heavier requests and restarts the learning from that rate; a shorter
// one, or one of bursty arrivals that the newest seconds no longer show (over target in the
// burst window too, or that window without enough requests to say while the stable window's
// rate would have filled it), teaches nothing, as a
// window's average rate per replica says nothing of the seconds a burst overloaded. The capacities live in the Autoscaler
// (lost on a restart or failover, relearned from the next windows). Until anything is learned
// (no request served within target yet) it is HPA's object-metric rule
// (getUsageRatioReplicaCount), the percentile over the target times the ready pods, held at the
// current count while pods are starting. It needs at least minRequests requests in the window;
// with fewer it abstains (recommends nothing and blocks nothing: a
// trickle of traffic is a valid observation that says nothing about capacity, and treating it
// as invalid would forbid an idle target ever to scale down). With no pod reporting at all, or
// no ready pod, it is invalid like any metric without data. Latency never pulls the count
// below what the queue or rate metrics need because it is only one of the recommendations of
// which the largest wins.
//
// Pods, Object and External are HPA's metrics of the adapters' APIs, computed from
// Input.MetricsAPI as HPA computes them: Pods by calcPlainMetricReplicas (a running pod with a
// value counts whatever its Ready condition, as for every HPA metric but cpu); Object and
// External with a Value target by getUsageRatioReplicaCount (the ratio times the ready pods),
// with an AverageValue target by the Get*PerPodMetricReplicas rule (the value over the target,
// unless within tolerance of the target times status.replicas). They are not evaluated in
// burst mode: their data is no faster than the adapter behind it.
//
// Resource with a Value target (which HPA does not accept for resources) is treated like an
// object metric: the total usage of the ready pods over the value, times the ready pods.
//
// # Safety
//
// As in HPA, when every metric is invalid, or some are and the rest would scale down, nothing
// moves (Hold, ScalingActive=False with the first invalid metric's reason) and the
// stabilization history is left alone. A target whose agents have no report in the stable
// window has no agent metric at all, which is that case. Until the report store covers one
// stable window (Input.Covered; after a restart or a failover) scale-downs hold as well, and
// each such hold records the current count as a recommendation, so the scale-down
// stabilization window starts only once the window is full: a new leader cannot know when
// the load last changed, and if it had just dropped, the old leader would also have needed
// its window to slide past the drop and then a scale-down window. A target scaled to zero by
// hand is left alone (ScalingActive=False ScalingDisabled). An HPA on the same target stops
// all scaling (AbleToScale=False HorizontalPodAutoscalerConflict). While a pod created by the
// last scale-up is unschedulable, for at most 5 minutes after its creation, no scale-up happens
// (AbleToScale=False PodsUnschedulable, saying until when); pods of older scale-ups never
// hold, so one pod stuck since long ago does not freeze the target; scale-downs still do.
//
// # Burst mode (Knative's panic mode)
//
// The agents' metrics are evaluated a second time over the burst window, as Knative's
// desired panic pod count: ceil(observed/target × the ready pods with data), without
// tolerance or HPA's second pass (which answer "hold at the current count" and would make a
// target with many starting pods look like a spike). When the largest of these reaches
// threshold percent of the ready pods (at least one), burst mode starts or is extended; it
// ends when a whole stable window has passed without the threshold being crossed again. While
// it lasts the recommendation is the largest of the stable and burst recommendations, and
// never below the current count: no scale-down. When a latency metric has learned its
// capacity, the burst recommendation is at most the larger of the current count and that
// metric's demand ÷ capacity: requests queued at a pod stay at that pod, so what the pods hold
// in flight grows by a backlog that new pods cannot take, and a metric of it (queue depth)
// would otherwise ask again every tick (2 → 6 → 11 → 22 → maxReplicas while the first pods
// drain their queues, or still load their model); the demand rate, which counts the backlog's
// growth but not its size, says whether the pods already asked for are enough.
//
// Going up, burst mode skips scale-up stabilization and the rate policies, as Knative skips
// its own rate smoothing in panic mode — but only as far as more than one pod evidences: the
// evidenced recommendation is computed again over both windows with each pod's value capped at
// the largest value of any other pod (so a pod alone counts as zero, and one pod reporting a
// queue of a million counts as the second-largest pod), and, for latency, only when at least
// two pods served requests in the window (the sketch is the target's, not a pod's). It holds
// its largest evidenced recommendation since burst mode began (Knative's maxPanicPods). The
// rest of the recommendation, whatever one pod alone asks for included, goes through the
// scale-up rate policies as outside burst mode, so one pod moves its target at most
// max(+100 %, +4 pods) per 15 s by default. A target of one pod therefore bursts at the rate
// policies' pace until a second pod serves. A policy that wants fewer pods than a spike needs
// can turn burst off with a threshold of 1000. maxReplicas still caps it and scaleUp
// selectPolicy Disabled still forbids it. The scale event is recorded as any other, so rate
// policies see it once burst mode ends, and so is each tick's recommendation (not the peak
// burst mode holds), so the scale-down stabilization window covers the spike but does not hold
// the peak a second window after burst mode ends. A metric whose value is not a finite number is
// invalid (ScalingActive=False InvalidMetricSourceType), never a count of MaxInt32.
//
// # Behavior
//
// Then autoscaling/v2 behavior exactly as HPA's normalizeDesiredReplicasWithBehaviors:
// stabilization (the scale-up window takes the minimum of recent recommendations, the
// scale-down window their maximum), Pods/Percent policies over their periods from the
// recorded scale events with selectPolicy Max/Min/Disabled, then min/max, with HPA's
// condition reasons (ScaleUpStabilized, ScaleDownStabilized, ScaleUpLimit, ScaleDownLimit,
// TooManyReplicas, TooFewReplicas, DesiredWithinRange). As in HPA, the first decision of an
// Autoscaler records the current count as a recommendation, so a restarted scaler does not
// scale down before a scale-down window has passed (and, see Safety, not before a stable
// window plus a scale-down window when it starts with empty report windows). HPA reuses the slot of an expired entry;
// here expired recommendations are dropped, and scale events once the longest policy period
// of either direction has passed (an event of one direction counts in the other's periods),
// which reads the same. A run of equal consecutive recommendations is kept as its newest
// entry, which changes no window's minimum or maximum and keeps a steady policy's history a
// few entries long instead of one per tick.
//
// With spec.scaleDownHold (hold.go) the scale-down window is cut to that many start times of
// the pods, never below the stable window nor above behavior.scaleDown's: a pod given back and
// needed again is missing for one start time, which is what holding a peak insures against.
// The start time, creation to Ready of the latest pod to become Ready, is measured from the pods
// of each tick and kept in the Autoscaler; until one is measured (after a restart too) the
// window is behavior.scaleDown's. A scale-down taken back within the hold (a scale-up to no
// more than the count before it) makes later scale-downs to that count or fewer wait twice as
// long, up to behavior.scaleDown's window, and one that stood its whole hold halves the wait: a
// hold shorter than the load's noise would flap between two counts every hold, while a spike's
// peak, given back to counts above that one, keeps the short hold. That wait runs from the last
// tick whose largest demand (before tolerances and the latency guard) was above the count: a
// count held up only by a percentile still over target from a backlog is no load above it.
// Without the field, behavior
// is HPA's, untouched.
package decision
