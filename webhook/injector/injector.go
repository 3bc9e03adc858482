// Package injector is the mutating admission handler for pods: it asks
// package optin whether a pod wants the agent and package inject for the
// patched pod. It never refuses a pod and never breaks one: whatever goes
// wrong, the pod is admitted unchanged with a warning (and an Event on its
// workload), because a model without its agent still serves.
package injector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
	"github.com/inferscale/inferscale/workload"
)

// ReasonNotInjected is the reason of the Event on the workload of a pod that
// opted in but could not be injected.
const ReasonNotInjected = "InferscaleNotInjected"

// Injector handles pod CREATE.
type Injector struct {
	// Lookup reads owners, namespaces and policies for the opt-in decision.
	Lookup optin.Lookup
	// Policies, when set, names the ModelMetric gauges of the policies that target the
	// pod's owners: the agent scrapes them without the pod having to name them again.
	Policies PolicyMetrics
	Options  optin.Options
	// Template is the injection template.
	Template inject.Config
	// Services lists the namespace's Services, to warn about those that
	// target the fronted port by number. Nil: no such warnings.
	Services client.Reader
	// Recorder emits Events on the workload of a pod that was not injected. Nil: none.
	Recorder events.EventRecorder
}

var _ admission.Handler = (*Injector)(nil)

const warnPrefix = "inferscale: "

// Handle implements admission.Handler.
func (in *Injector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return admission.Allowed("")
	}
	log := logf.FromContext(ctx).WithValues("namespace", req.Namespace)
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		log.Error(err, "decoding the pod")
		return admission.Allowed("").WithWarnings(warnPrefix + "could not decode the pod; admitted without the agent: " + err.Error())
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	podName := pod.Name
	if podName == "" {
		podName = pod.GenerateName + "<generated>"
	}
	log = log.WithValues("pod", podName)

	// A reinvocation (another webhook or the ServiceAccount plugin changed the
	// pod after us) finds its own work: nothing to look up.
	if inject.Injected(&pod) {
		return admission.Allowed("already injected")
	}
	d, err := optin.Decide(ctx, &pod, req.Namespace, in.Lookup, in.Options)
	if err != nil {
		log.Error(err, "deciding whether to inject")
		return admission.Allowed("").WithWarnings(warnPrefix + "could not decide whether to inject the agent; admitted without it: " + err.Error())
	}
	if !d.Inject {
		return admission.Allowed(d.Reason).WithWarnings(prefixed(d.Warnings)...)
	}
	warnings := prefixed(d.Warnings)

	cfg := in.Template
	if in.Policies != nil {
		names, err := in.Policies.PolicyModelMetrics(ctx, req.Namespace, d.Owners)
		if err != nil {
			// The annotation's list still applies; the policy's status says what is missing.
			warnings = append(warnings, warnPrefix+"could not read the policies' model metrics; the agent scrapes only those the pod names: "+err.Error())
		}
		cfg.ModelMetrics = names
	}
	if cfg.GPUPodResources && inject.WantsPodResources(&pod) {
		// The hostPath and root user the socket needs pass Pod Security only at privileged.
		cfg.NamespacePodSecurity = inject.PodSecurityUnknown
		if labels, err := in.Lookup.NamespaceLabels(ctx, pod.Namespace); err == nil {
			cfg.NamespacePodSecurity = labels[inject.LabelPodSecurityEnforce]
		} else {
			log.Error(err, "reading the namespace's Pod Security level")
		}
	}
	res, err := inject.Inject(&pod, &cfg)
	if err != nil {
		return in.notInjected(ctx, ptr.Deref(req.DryRun, false), &pod, d, err.Error(), warnings)
	}
	if res.AlreadyInjected {
		return admission.Allowed("already injected").WithWarnings(warnings...)
	}
	warnings = append(warnings, prefixed(res.Warnings)...)
	warnings = append(warnings, in.serviceWarnings(ctx, &pod, res.Status)...)

	patched, err := json.Marshal(res.Pod)
	if err != nil {
		return in.notInjected(ctx, ptr.Deref(req.DryRun, false), &pod, d, fmt.Sprintf("encoding the injected pod: %v", err), warnings)
	}
	log.V(1).Info("injecting the agent", "why", d.Reason, "port", res.Status.FrontedPort)
	resp := admission.PatchResponseFromRaw(req.Object.Raw, patched)
	if !resp.Allowed {
		// Only when the JSON patch cannot be computed; fail safe all the same.
		return in.notInjected(ctx, ptr.Deref(req.DryRun, false), &pod, d, "computing the patch: "+resp.Result.Message, warnings)
	}
	resp.Result = &metav1.Status{Code: http.StatusOK, Message: "injected: " + d.Reason}
	return resp.WithWarnings(warnings...)
}

// PolicyMetrics finds the model-server gauges the policies of a pod's workload scale on;
// optin.ClientLookup is one.
type PolicyMetrics interface {
	PolicyModelMetrics(ctx context.Context, namespace string, owners []workload.Owner) ([]string, error)
}

// notInjected admits the pod unchanged, warns the creator, and records an
// Event on the pod's workload, which outlives the pod and is where a user
// looks (`kubectl describe deployment`).
func (in *Injector) notInjected(ctx context.Context, dryRun bool, pod *corev1.Pod, d optin.Decision, why string, warnings []string) admission.Response {
	logf.FromContext(ctx).Info("pod opted in but not injected", "why", why, "optedInBy", d.Reason)
	// A dry run must leave no trace (sideEffects: NoneOnDryRun).
	if in.Recorder != nil && !dryRun {
		if regarding := eventObject(pod, d); regarding != nil {
			in.Recorder.Eventf(regarding, nil, corev1.EventTypeWarning, ReasonNotInjected, "Inject",
				"pod %s opted in (%s) but admitted without the inferscale agent: %s", podLabel(pod), d.Reason, why)
		}
	}
	return admission.Allowed("not injected").WithWarnings(append(warnings,
		warnPrefix+"admitted without the agent sidecar: "+why)...)
}

// eventObject is the nearest owner that exists (a pod under creation has no
// UID yet, and often no name), else the pod itself when it has a name.
func eventObject(pod *corev1.Pod, d optin.Decision) runtime.Object {
	for i := len(d.Owners) - 1; i >= 0; i-- {
		o := d.Owners[i]
		if o.Source == workload.Claimed {
			continue // only the pod names it: maybe not its workload at all
		}
		obj := &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: o.APIVersion, Kind: o.GroupKind.Kind},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: pod.Namespace, UID: o.UID},
		}
		return obj
	}
	if pod.Name != "" {
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
	}
	return nil
}

func podLabel(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}

// serviceWarnings names the Services that select the pod and target the
// fronted port by number: they reach the model directly, past the agent.
func (in *Injector) serviceWarnings(ctx context.Context, pod *corev1.Pod, st inject.Status) []string {
	if in.Services == nil {
		return nil
	}
	var list corev1.ServiceList
	if err := in.Services.List(ctx, &list, client.InNamespace(pod.Namespace)); err != nil {
		logf.FromContext(ctx).Error(err, "listing Services to check their target ports")
		return nil
	}
	var warnings []string
	for _, svc := range list.Items {
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // an unset targetPort is the port
			}
			if target.Type != intstr.Int || target.IntVal != st.FrontedPort {
				continue
			}
			fix := fmt.Sprintf("set its targetPort to %q", st.PortName)
			if st.PortName == "" {
				fix = fmt.Sprintf("name the model's port and target the name, or target the agent's port %d", st.ListenPort)
			}
			warnings = append(warnings, fmt.Sprintf("%sService %s port %s targets port %d by number, so its traffic bypasses the agent and is not measured: %s",
				warnPrefix, svc.Name, servicePortName(p), st.FrontedPort, fix))
		}
	}
	return warnings
}

func servicePortName(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Port)
}

func prefixed(ws []string) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, warnPrefix+w)
	}
	return out
}
