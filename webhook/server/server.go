// Package server wires the admission handlers into a controller-runtime
// manager: their paths, the informers they read, and the readiness that
// waits for those informers.
package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/certs"
	"github.com/inferscale/inferscale/internal/version"
	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/injector"
	"github.com/inferscale/inferscale/webhook/optin"
	"github.com/inferscale/inferscale/webhook/policy"
	"github.com/inferscale/inferscale/workload"
)

// Paths of the handlers; manifests/webhook's configurations call them.
const (
	InjectPath   = "/inject-pod"
	ValidatePath = "/validate-autoscalingpolicy"
	// ValidateBudgetPath validates AutoscalingBudgets.
	ValidateBudgetPath = "/validate-autoscalingbudget"
	// EventSource is the reporting controller of the webhook's Events.
	EventSource = "inferscale-webhook"
)

// Options configure the handlers.
type Options struct {
	Template inject.Config
	OptIn    optin.Options
	// MaxReplicasCeiling bounds spec.maxReplicas of every policy; 0 is
	// policy.DefaultMaxReplicas.
	MaxReplicasCeiling int32
}

// Setup registers both handlers on mgr's webhook server, the informers they
// read, and the "informers" readiness check.
// RegisterMetrics registers the webhook's metrics with reg, where controller-runtime's own
// (controller_runtime_webhook_*) are: the certificates' and inferscale_build_info.
func RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(version.NewCollector("inferscale-webhook"))
	reg.MustRegister(certs.Collectors()...)
}

func Setup(mgr manager.Manager, opts Options) error {
	if err := opts.Template.Validate(); err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	validator := &policy.Validator{
		Reader:      mgr.GetCache(),
		Targets:     mgr.GetAPIReader(),
		Scales:      &policy.DiscoveryScales{Mapper: mgr.GetRESTMapper(), Discovery: disco, Clock: clock.RealClock{}, TTL: time.Minute},
		Access:      &policy.ScaleAccess{Reviewer: kube.AuthorizationV1().SubjectAccessReviews(), Mapper: mgr.GetRESTMapper()},
		MaxReplicas: opts.MaxReplicasCeiling,
		// The pod template is read live: the cache holds the workloads' metadata only.
		Workloads: policy.APIWorkloads{Reader: mgr.GetAPIReader()},
		Inject:    &opts.Template,
	}
	lookup := &optin.ClientLookup{ClientGetter: workload.ClientGetter{Cache: mgr.GetCache(), Live: mgr.GetAPIReader()}}
	inj := &injector.Injector{
		Lookup:   lookup,
		Policies: lookup,
		Options:  opts.OptIn,
		Template: opts.Template,
		Services: mgr.GetCache(),
		Recorder: mgr.GetEventRecorder(EventSource),
	}
	srv := mgr.GetWebhookServer()
	// A panic answers 500, which the injector's failurePolicy Ignore turns
	// into an unchanged pod, and the validator's Fail into a refusal.
	srv.Register(InjectPath, &admission.Webhook{Handler: inj, RecoverPanic: ptr.To(true)})
	srv.Register(ValidatePath, &admission.Webhook{Handler: validator, RecoverPanic: ptr.To(true)})
	srv.Register(ValidateBudgetPath, &admission.Webhook{Handler: policy.BudgetValidator{}, RecoverPanic: ptr.To(true)})

	warm := &warmup{cache: mgr.GetCache(), retry: 30 * time.Second}
	if err := mgr.Add(warm); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook-server", srv.StartedChecker()); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("informers", warm.check)
}

// informed are the objects the handlers read. Namespaces are metadata only, and the owners
// as package workload reads them (trimmed to what the walk needs: a cluster's ReplicaSets are
// many).
func informed() []client.Object {
	ns := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	return append(append([]client.Object{ns}, workload.Informed()...),
		&corev1.Service{},
		&autoscalingv2.HorizontalPodAutoscaler{},
		&v1alpha1.AutoscalingPolicy{},
	)
}

// warmup starts the informers before the pod reports ready, so admissions
// read a synced cache and never start an informer on the request path (the
// manager's cache is built with ReaderFailOnMissingInformer: a read of a kind
// without an informer answers "no such object" at once). Kinds without a CRD
// (SeldonDeployment where Seldon is not installed) are skipped and retried
// every retry, so their informer starts once the CRD appears.
type warmup struct {
	cache  cache.Informers
	retry  time.Duration
	synced atomic.Bool
}

// NeedLeaderElection is false: every replica serves admissions.
func (w *warmup) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (w *warmup) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("warmup")
	var pending []client.Object
	for _, obj := range informed() {
		if _, err := w.cache.GetInformer(ctx, obj); err != nil {
			if meta.IsNoMatchError(err) {
				log.Info("kind not served, its informer starts when it is", "kind", obj.GetObjectKind().GroupVersionKind().String())
				pending = append(pending, obj)
				continue
			}
			return err
		}
	}
	w.synced.Store(true)
	t := time.NewTicker(w.retry)
	defer t.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pending = slices.DeleteFunc(pending, func(obj client.Object) bool {
			_, err := w.cache.GetInformer(ctx, obj)
			if err == nil {
				log.Info("kind now served, its informer started", "kind", obj.GetObjectKind().GroupVersionKind().String())
			}
			return err == nil
		})
	}
	return nil
}

func (w *warmup) check(*http.Request) error {
	if !w.synced.Load() {
		return errors.New("informers not synced yet")
	}
	return nil
}
