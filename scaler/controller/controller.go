// Package controller is the scaler's thin Kubernetes edge: every tick it reads, per
// AutoscalingPolicy, the target's /scale, its pods, HPAs on the same target and
// metrics.k8s.io usage, hands them with the report windows to the pure decision core, writes
// /scale when the desired count changes, and records status, Events and metrics.
package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/scaler/attribution"
	"github.com/inferscale/inferscale/scaler/decision"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
	"github.com/inferscale/inferscale/workload"
)

// Options configure a Controller. Every field but the tunables is required.
type Options struct {
	// Client reads policies, pods and HPAs from the manager's cache and writes status.
	Client client.Client
	// Mapper maps a target's group and kind to its resource, for the scale client.
	Mapper apimeta.RESTMapper
	// Scales reads and writes /scale of any kind.
	Scales scale.ScalesGetter
	// Usage reads metrics.k8s.io; nil when the API is not served (Resource metrics are then
	// invalid).
	Usage UsageReader
	// CustomMetrics and ExternalMetrics read custom.metrics.k8s.io and
	// external.metrics.k8s.io for Pods, Object and External metrics; nil makes those invalid.
	CustomMetrics   CustomMetricsReader
	ExternalMetrics ExternalMetricsReader

	Store    *window.Store
	Resolver *attribution.Resolver
	Events   events.EventRecorder
	Metrics  *Metrics
	Clock    clock.PassiveClock
	Log      logr.Logger

	// Interval between ticks. Default 1 s.
	Interval time.Duration
	// StatusInterval is how often status is written when only the observed metric values
	// changed; any other change is written at once. Default 15 s (HPA's sync period), so
	// 1,000 policies do not cost 1,000 status writes per second.
	StatusInterval time.Duration
	// Concurrency is how many policies are worked on at once within a tick. Default 8.
	Concurrency int
	// CallTimeout bounds every API call of a policy's reconcile (/scale read and write, the
	// cache lists, metrics.k8s.io, the status patch), so that a slow API costs a decision at
	// most that. Default DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxReplicasCeiling caps every policy's maxReplicas (and minReplicas): a policy admitted
	// before the webhook's ceiling was lowered never gets more. Default
	// v1alpha1.DefaultMaxReplicasCeiling.
	MaxReplicasCeiling int32
}

// DefaultCallTimeout is the default of Options.CallTimeout (the scaler's --api-call-timeout).
const DefaultCallTimeout = 5 * time.Second

// Controller runs the ticks. It needs leader election: one replica decides.
type Controller struct {
	opts     Options
	client   client.Client
	resolver *attribution.Resolver

	mu       sync.Mutex
	policies map[types.NamespacedName]*policyState
	budgets  *budgets
}

// policyState is what the controller remembers of one policy between ticks; a tick works on
// one policy in one goroutine, so it needs no lock of its own.
type policyState struct {
	key         target.Key
	autoscaler  decision.Autoscaler
	statusWrite time.Time // last status write
	// lastErr is the last failure logged, so that a lasting one (a deleted target) is logged
	// once rather than every tick; the condition and the error counter say it is still there.
	lastErr string
	holds   holdTracker
	// recommended is the count last announced in recommend-only mode.
	recommended int32
	// refused is the store's count of the target's reports refused for its memory limit, and
	// refusedEvent when an Event last said so.
	refused      uint64
	refusedEvent time.Time
}

// logOnce logs err unless it is the failure this policy logged last.
func (st *policyState) logOnce(log logr.Logger, err error, msg string) {
	if s := msg + ": " + err.Error(); s != st.lastErr {
		st.lastErr = s
		log.Error(err, msg)
	}
}

// New returns a Controller.
func New(opts Options) *Controller {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 15 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.MaxReplicasCeiling <= 0 {
		opts.MaxReplicasCeiling = v1alpha1.DefaultMaxReplicasCeiling
	}
	return &Controller{opts: opts, client: opts.Client, resolver: opts.Resolver, policies: map[types.NamespacedName]*policyState{}, budgets: newBudgets()}
}

// SetupWithManager registers the field indexes, the budget loop and the policy reconciler:
// a controller-runtime controller keyed by policy, so that each policy is decided on its own
// and a slow /scale or metrics call holds up only its own policy; Concurrency policies are
// decided at once, each again Interval after its last decision.
func (c *Controller) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	if err := mgr.Add(&budgetLoop{c: c}); err != nil {
		return err
	}
	// Status writes of its own do not wake a policy; spec, label (budget coverage) and
	// annotation (paused, recommend-only) changes do, and every policy is requeued anyway.
	changed := predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).
		Named("autoscalingpolicy").
		For(&v1alpha1.AutoscalingPolicy{}, builder.WithPredicates(changed)).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: c.opts.Concurrency}).
		Complete(c)
}

var _ reconcile.Reconciler = (*Controller)(nil)

// Reconcile decides one policy and asks to be called again after Interval. A policy that is
// gone is forgotten, and so are its target's windows unless another policy targets it.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	defer func() { c.opts.Metrics.decision.Observe(time.Since(start).Seconds()) }()
	var p v1alpha1.AutoscalingPolicy
	getCtx, cancel := c.bounded(ctx)
	err := c.client.Get(getCtx, req.NamespacedName, &p)
	cancel()
	if apierrors.IsNotFound(err) {
		c.forget(ctx, req.NamespacedName)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("get AutoscalingPolicy %s: %w", req.NamespacedName, err)
	}
	k := target.ForPolicy(&p)
	owner, err := c.owner(ctx, k)
	if err != nil {
		return reconcile.Result{}, err
	}
	c.mu.Lock()
	st := c.policies[req.NamespacedName]
	if st == nil || st.key != k {
		st = &policyState{key: k}
		c.policies[req.NamespacedName] = st
	}
	c.mu.Unlock()
	// The workqueue never hands one key to two workers at once, so st needs no lock.
	c.reconcile(ctx, &p, st, owner)
	return reconcile.Result{RequeueAfter: c.opts.Interval}, nil
}

// owner names the one policy allowed to scale target k (owningPolicies), from the policies
// the target index finds.
func (c *Controller) owner(ctx context.Context, k target.Key) (string, error) {
	ps, err := c.policiesOf(ctx, k)
	if err != nil {
		return "", err
	}
	return owningPolicies(ps)[k], nil
}

// policiesOf lists the policies that target k, through the target index.
func (c *Controller) policiesOf(ctx context.Context, k target.Key) ([]v1alpha1.AutoscalingPolicy, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	var list v1alpha1.AutoscalingPolicyList
	if err := c.client.List(ctx, &list, client.InNamespace(k.Namespace), client.MatchingFields{policyTargetIndex: indexValue(k.Group, k.Kind, k.Name)}); err != nil {
		return nil, fmt.Errorf("list AutoscalingPolicies of %s: %w", k, err)
	}
	return list.Items, nil
}

// forget drops what the controller kept of a deleted policy, and its target's windows unless
// another policy targets it (or the list fails: the windows are kept rather
// than lost to a cache error, and dropped when the last policy's deletion is reconciled).
func (c *Controller) forget(ctx context.Context, nn types.NamespacedName) {
	c.mu.Lock()
	st := c.policies[nn]
	delete(c.policies, nn)
	c.mu.Unlock()
	if st == nil {
		return
	}
	c.opts.Metrics.forget(nn)
	if others, err := c.policiesOf(ctx, st.key); err != nil {
		c.opts.Log.Error(err, "Listing the policies of a deleted policy's target failed; keeping its windows", "policy", nn.String())
	} else if len(others) == 0 {
		c.opts.Store.Forget(st.key)
	}
}

// owningPolicies names, for every target, the one policy allowed to scale it: the oldest
// (then by name). Two policies on one target would fight like two HPAs; the others are told.
// Names, not pointers: the policies are updated concurrently by their reconciles.
func owningPolicies(ps []v1alpha1.AutoscalingPolicy) map[target.Key]string {
	owners := map[target.Key]*v1alpha1.AutoscalingPolicy{}
	for i := range ps {
		p := &ps[i]
		k := target.ForPolicy(p)
		if cur, ok := owners[k]; !ok || p.CreationTimestamp.Before(&cur.CreationTimestamp) ||
			(p.CreationTimestamp.Equal(&cur.CreationTimestamp) && p.Name < cur.Name) {
			owners[k] = p
		}
	}
	out := make(map[target.Key]string, len(owners))
	for k, p := range owners {
		out[k] = p.Name
	}
	return out
}

func (c *Controller) reconcile(ctx context.Context, p *v1alpha1.AutoscalingPolicy, st *policyState, owner string) {
	nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	log := c.opts.Log.WithValues("policy", nn.String(), "target", st.key.String())
	now := c.opts.Clock.Now()

	if errs := v1alpha1.ValidateAutoscalingPolicy(p); len(errs) > 0 {
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.ScalingActive, v1alpha1.ReasonInvalidPolicy, errs.ToAggregate().Error()), nil)
		return
	}
	if owner != p.Name {
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.AbleToScale, v1alpha1.ReasonAmbiguousPolicies,
			fmt.Sprintf("AutoscalingPolicy %s also targets %s and takes precedence", owner, st.key)), nil)
		return
	}
	spec := p.Spec.Defaulted()
	ceiling := c.capReplicas(spec)
	c.opts.Store.Configure(st.key, window.ConfigFor(spec))
	if annotationOn(p, v1alpha1.PausedAnnotation) {
		c.writeStatus(ctx, log, p, st, now, nil, pausedCondition(), nil)
		return
	}

	gr, sc, err := c.getScale(ctx, st.key, p.Spec.Target().APIVersion)
	if err != nil {
		c.opts.Metrics.tickError(nn, "scale_get")
		st.logOnce(log, err, "Reading /scale failed")
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.AbleToScale, v1alpha1.ReasonFailedGetScale, err.Error()), nil)
		return
	}
	seldon, err := c.seldonScale(ctx, st.key)
	if err != nil {
		c.opts.Metrics.tickError(nn, "scale_get")
		st.logOnce(log, err, "Reading the SeldonDeployment failed")
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.AbleToScale, v1alpha1.ReasonFailedGetScale, err.Error()), nil)
		return
	}
	if msg := overrideMessage(seldon); msg != "" {
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.AbleToScale, v1alpha1.ReasonSeldonReplicasOverridden, msg), nil)
		return
	}
	podsCtx, cancel := c.bounded(ctx)
	pods, sel, err := c.targetPods(podsCtx, st.key, sc.Status.Selector)
	cancel()
	if err != nil {
		c.opts.Metrics.tickError(nn, "pods")
		st.logOnce(log, err, "Listing the target's pods failed")
		c.writeStatus(ctx, log, p, st, now, nil, failed(v1alpha1.ScalingActive, v1alpha1.ReasonFailedListPods, err.Error()), nil)
		return
	}
	pods = seldonPods(pods, seldon)

	in := decision.Input{
		Spec:            spec,
		CurrentReplicas: sc.Spec.Replicas,
		StatusReplicas:  sc.Status.Replicas,
		Pods:            make([]decision.Pod, 0, len(pods)),
		Covered:         c.opts.Store.Covered(st.key),
	}
	in.Stable, _ = c.opts.Store.Window(st.key, time.Duration(*spec.StableWindowSeconds)*time.Second)
	in.Burst, _ = c.opts.Store.Window(st.key, time.Duration(*spec.Burst.WindowSeconds)*time.Second)
	for i := range pods {
		in.Pods = append(in.Pods, decisionPod(&pods[i]))
	}
	if in.HPAConflict, err = c.hpaConflict(ctx, st.key, seldon); err != nil {
		st.logOnce(log, err, "Listing HorizontalPodAutoscalers failed")
	} else {
		st.lastErr = ""
	}
	recommendOnly := annotationOn(p, v1alpha1.RecommendOnlyAnnotation)
	if recommendOnly {
		in.HPAConflict = "" // nothing is written, so the policy may shadow an HPA
	}
	if res := resourcesOf(spec); len(res) > 0 {
		in.Resources = c.usage(ctx, log, st.key.Namespace, sel, pods, res)
	}
	if usesMetricsAPI(spec) {
		in.MetricsAPI = c.metricsAPI(nn, st.key.Namespace, sel, spec)
	}

	d := st.autoscaler.Decide(&in, now)
	if ceiling != "" && d.DesiredReplicas == spec.MaxReplicas {
		d.Reason += "; " + ceiling
	}
	c.applyBudgets(p, spec, &in, pods, &d, now)
	c.observe(nn, &in, &d)
	c.recordHold(p, st, &d, spec, now)
	c.recordRefused(p, st, now)
	if recommendOnly {
		c.writeStatus(ctx, log, p, st, now, &d, c.recommend(p, st, &d), nil)
		return
	}

	var scaled *metav1.Time
	if d.DesiredReplicas != sc.Spec.Replicas {
		from := sc.Spec.Replicas
		sc.Spec.Replicas = d.DesiredReplicas
		if err := c.updateScale(ctx, st.key, gr, sc); err != nil {
			c.opts.Metrics.tickError(nn, "scale_update")
			log.Error(err, "Writing /scale failed", "from", from, "to", d.DesiredReplicas)
			c.opts.Events.Eventf(p, nil, corev1.EventTypeWarning, "FailedRescale", "Scale", "New size: %d; reason: %s; error: %v", d.DesiredReplicas, d.Reason, err)
			c.writeStatus(ctx, log, p, st, now, &d, failed(v1alpha1.AbleToScale, v1alpha1.ReasonFailedUpdateScale, err.Error()), nil)
			return
		}
		st.autoscaler.Scaled(from, d.DesiredReplicas, now)
		direction := "up"
		if d.DesiredReplicas < from {
			direction = "down"
		}
		c.opts.Metrics.scaled(nn, direction)
		c.opts.Events.Eventf(p, nil, corev1.EventTypeNormal, "SuccessfulRescale", "Scale", "New size: %d; reason: %s", d.DesiredReplicas, d.Reason)
		log.Info("Rescaled", "from", from, "to", d.DesiredReplicas, "reason", d.Reason)
		t := metav1.NewTime(now)
		scaled = &t
	}
	c.writeStatus(ctx, log, p, st, now, &d, nil, scaled)
}

// recordRefused emits a Warning Event when the report store refused reports of the target
// for its memory limit since the last decision, at most every holdEventRepeat.
func (c *Controller) recordRefused(p *v1alpha1.AutoscalingPolicy, st *policyState, now time.Time) {
	n := c.opts.Store.Refused(st.key)
	if n > st.refused && (st.refusedEvent.IsZero() || now.Sub(st.refusedEvent) >= holdEventRepeat) {
		c.opts.Events.Eventf(p, nil, corev1.EventTypeWarning, "ReportMemoryLimit", "Record",
			"%d reports of the target refused: the scaler's report store holds its memory limit (%d of %d bytes, --report-memory-limit); "+
				"a pod whose reports do not fit counts as a pod without metrics", n-st.refused, c.opts.Store.MemoryUsed(), c.opts.Store.MemoryLimit())
		st.refused, st.refusedEvent = n, now
	}
}

// getScale reads the target's /scale. The mapping comes from the RESTMapper, so any kind
// with a scale subresource works, SeldonDeployments included.
func (c *Controller) getScale(ctx context.Context, k target.Key, apiVersion string) (schema.GroupResource, *autoscalingv1.Scale, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupResource{}, nil, fmt.Errorf("targetRef.apiVersion %q: %w", apiVersion, err)
	}
	mapping, err := c.opts.Mapper.RESTMapping(k.GroupKind(), gv.Version)
	if err != nil {
		return schema.GroupResource{}, nil, fmt.Errorf("map %s: %w", k.GroupKind(), err)
	}
	gr := mapping.Resource.GroupResource()
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	sc, err := c.opts.Scales.Scales(k.Namespace).Get(ctx, gr, k.Name, metav1.GetOptions{})
	if err != nil {
		return gr, nil, scaleError("get", gr, k, err)
	}
	return gr, sc, nil
}

// updateScale writes the target's /scale.
func (c *Controller) updateScale(ctx context.Context, k target.Key, gr schema.GroupResource, sc *autoscalingv1.Scale) error {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	if _, err := c.opts.Scales.Scales(k.Namespace).Update(ctx, gr, sc, metav1.UpdateOptions{}); err != nil {
		return scaleError("update", gr, k, err)
	}
	return nil
}

// bounded is ctx bounded by the per-call timeout: a slow API server, aggregated API or cache
// sync costs one decision at most that, never a hung reconcile.
func (c *Controller) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}

// capReplicas lowers the defaulted spec's maxReplicas and minReplicas to the cluster-wide
// ceiling and, when it lowered maxReplicas, returns the words a decision at that count adds
// to its reason.
func (c *Controller) capReplicas(spec *v1alpha1.AutoscalingPolicySpec) string {
	ceiling := c.opts.MaxReplicasCeiling
	*spec.MinReplicas = min(*spec.MinReplicas, ceiling)
	if spec.MaxReplicas <= ceiling {
		return ""
	}
	note := fmt.Sprintf("the scaler's --max-replicas-ceiling %d caps the policy's maxReplicas %d", ceiling, spec.MaxReplicas)
	spec.MaxReplicas = ceiling
	return note
}

// AggregateToScalerLabel on a ClusterRole adds its rules to the scaler's aggregated
// ClusterRole (manifests/scaler/rbac.yaml).
const AggregateToScalerLabel = "inferscale.io/aggregate-to-scaler"

// scaleError wraps an error of /scale; a refusal by RBAC names the permission to grant and
// how, since any kind with /scale can be a target but the scaler may write only those it was
// granted.
func scaleError(verb string, gr schema.GroupResource, k target.Key, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("the scaler may not %s %s/scale in namespace %s: grant it with a ClusterRole labelled %s: \"true\" "+
			"whose rule allows get, update and patch on apiGroups [%s] resources [%s/scale] (see manifests/samples/rbac/): %w",
			verb, gr, k.Namespace, AggregateToScalerLabel, gr.Group, gr.Resource, err)
	}
	return fmt.Errorf("%s %s %s/%s/scale: %w", verb, gr, k.Namespace, k.Name, err)
}

// hpaConflict names an HPA that scales the same target. For a SeldonDeployment that includes
// an HPA on one of the Deployments its operator makes (s), the HPAs the operator creates from
// hpaSpecs (labelled with the SeldonDeployment's id) and, before they exist, the hpaSpecs and
// kedaSpecs themselves: whatever the scaler wrote they would undo.
func (c *Controller) hpaConflict(ctx context.Context, k target.Key, s *workload.SeldonScale) (string, error) {
	ctx, cancel := c.bounded(ctx)
	defer cancel()
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := c.client.List(ctx, &hpas, client.InNamespace(k.Namespace), client.MatchingFields{hpaTargetIndex: indexValue(k.Group, k.Kind, k.Name)}); err != nil {
		return "", fmt.Errorf("list HorizontalPodAutoscalers of %s: %w", k, err)
	}
	if len(hpas.Items) > 0 {
		return hpas.Items[0].Name, nil
	}
	if k.GroupKind() != workload.SeldonDeployment {
		return "", nil
	}
	// The Deployments Seldon makes have names of their own, and the HPAs it creates only a
	// label: for a SeldonDeployment the namespace's HPAs are read.
	if err := c.client.List(ctx, &hpas, client.InNamespace(k.Namespace)); err != nil {
		return "", fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", k.Namespace, err)
	}
	for _, h := range hpas.Items {
		ref := h.Spec.ScaleTargetRef
		if gv, _ := schema.ParseGroupVersion(ref.APIVersion); gv.Group != workload.Deployment.Group || ref.Kind != workload.Deployment.Kind {
			continue
		}
		if comp, ok := seldonChild(s, ref.Name); ok {
			return fmt.Sprintf("%s (it scales Deployment %s, which Seldon makes from spec.predictors[%d].componentSpecs[%d])",
				h.Name, ref.Name, comp.PredictorIndex, comp.Index), nil
		}
		if h.Labels[workload.SeldonDeploymentIDLabel] == workload.SeldonDeploymentID(k.Name) {
			return fmt.Sprintf("%s (created by Seldon from an hpaSpec; it scales Deployment %s)", h.Name, ref.Name), nil
		}
	}
	return seldonAutoscaled(s), nil
}

func (c *Controller) observe(policy types.NamespacedName, in *decision.Input, d *decision.Decision) {
	c.opts.Metrics.observe(policy, d)
	c.opts.Metrics.observePods(policy, in, decision.UsesAgents(in.Spec))
}

// failed is a False condition of type t that replaces the decision's conditions of that type.
func failed(t, reason, msg string) *metav1.Condition {
	return &metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

// writeStatus merges the decision (if any) and an overriding condition into the policy's
// status and patches it when it changed; a change of only the observed values (metrics,
// condition messages) waits for StatusInterval.
func (c *Controller) writeStatus(ctx context.Context, log logr.Logger, p *v1alpha1.AutoscalingPolicy, st *policyState, now time.Time, d *decision.Decision, override *metav1.Condition, scaled *metav1.Time) {
	orig := p.DeepCopy()
	s := &p.Status
	s.ObservedGeneration = p.Generation
	if d != nil {
		s.CurrentReplicas = d.CurrentReplicas
		s.DesiredReplicas = d.DesiredReplicas
		s.DrivingMetric = d.DrivingMetric
		s.CurrentMetrics = d.Metrics
		for _, cond := range d.Conditions {
			cond.ObservedGeneration = p.Generation
			apimeta.SetStatusCondition(&s.Conditions, cond)
		}
	}
	if override != nil {
		override.ObservedGeneration = p.Generation
		override.LastTransitionTime = metav1.NewTime(now)
		apimeta.SetStatusCondition(&s.Conditions, *override)
	}
	if scaled != nil {
		s.LastScaleTime = scaled
	}
	s.Targets = targetsSummary(s.CurrentMetrics)
	setReady(s, p.Generation, now)
	if equality.Semantic.DeepEqual(orig.Status, p.Status) {
		return
	}
	if equality.Semantic.DeepEqual(significant(&orig.Status), significant(s)) && now.Sub(st.statusWrite) < c.opts.StatusInterval {
		return
	}
	if err := c.patchStatus(ctx, p, orig); err != nil {
		c.opts.Metrics.tickError(types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, "status")
		log.Error(err, "Updating status failed")
		return
	}
	st.statusWrite = now
}

// significant is the status without what changes with every observation (the metric values
// and the numbers in condition messages): a change in it is written at once.
func significant(s *v1alpha1.AutoscalingPolicyStatus) *v1alpha1.AutoscalingPolicyStatus {
	out := s.DeepCopy()
	out.CurrentMetrics = nil
	out.Targets = ""
	for i := range out.Conditions {
		out.Conditions[i].Message = ""
	}
	return out
}

// resourcesOf lists the metrics.k8s.io resources the spec's Resource metrics need.
func resourcesOf(spec *v1alpha1.AutoscalingPolicySpec) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, m := range spec.Metrics {
		if r := m.Resource; r != nil && (r.Name == corev1.ResourceCPU || r.Name == corev1.ResourceMemory) && !slices.Contains(out, r.Name) {
			out = append(out, r.Name)
		}
	}
	return out
}
