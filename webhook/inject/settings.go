package inject

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

// settings are the template with the pod's annotation overrides applied.
type settings struct {
	// agent is the agent's configuration but for the fronted port and the protocol, which
	// depend on the port chosen.
	agent agentv1.Config
	// protocol from the annotation; "" means: from the fronted port.
	protocol  string
	resources corev1.ResourceRequirements
}

// agentAnnotation names the annotation that sets each agent flag, so that an invalid agent
// setting is reported as the annotation the user wrote.
var agentAnnotation = map[string]string{
	"listen-port":        AnnotationAgentPort,
	"admin-port":         AnnotationAgentAdminPort,
	"upstream-port":      AnnotationPort,
	"protocol":           AnnotationProtocol,
	"model-metrics":      AnnotationModelMetrics,
	"model-metrics-path": AnnotationModelMetricsPath,
	"model-metrics-port": AnnotationModelMetricsPort,
	"model-ready-path":   AnnotationModelReadyPath,
	"max-concurrency":    AnnotationMaxConcurrency,
	"queue-size":         AnnotationQueueSize,
	"forwarded-headers":  AnnotationForwardedHeaders,
}

// agentBase is the agent configuration every injected sidecar starts from: the agent's
// defaults with the webhook's template.
func agentBase(cfg *Config) agentv1.Config {
	a := agentv1.Default()
	a.ListenPort, a.AdminPort = int(cfg.ListenPort), int(cfg.AdminPort)
	a.ScalerURL, a.ForwardedHeaders = cfg.ScalerURL, cfg.ForwardedHeaders
	if cfg.TrustBundle != "" {
		a.CAFile = agentv1.CAFile
	}
	if cfg.AgentLogLevel != "" {
		a.Log.Level = cfg.AgentLogLevel
	}
	if cfg.AgentLogFormat != "" {
		a.Log.Format = cfg.AgentLogFormat
	}
	return a
}

// settingsFor applies the pod's annotations to the template. A malformed override makes the
// pod not injectable: guessing what the user meant could start an agent that misbehaves, while
// leaving the pod alone is always safe. Only the syntax is checked here; the agent's own
// validation (checkAgent) judges the values.
func settingsFor(ann map[string]string, cfg *Config) (settings, error) {
	s := settings{agent: agentBase(cfg), resources: *cfg.Resources.DeepCopy()}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s=%q: %s", key, ann[key], fmt.Sprintf(format, args...)))
	}
	integer := func(key string, into *int) {
		if v, ok := ann[key]; ok {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				bad(key, "want an integer")
				return
			}
			*into = int(n)
		}
	}
	integer(AnnotationAgentPort, &s.agent.ListenPort)
	integer(AnnotationAgentAdminPort, &s.agent.AdminPort)
	integer(AnnotationModelMetricsPort, &s.agent.ModelMetricsPort)
	integer(AnnotationMaxConcurrency, &s.agent.MaxConcurrency)
	integer(AnnotationQueueSize, &s.agent.QueueSize)
	if v, ok := ann[AnnotationProtocol]; ok {
		s.protocol = v
	}
	items := slices.Clone(cfg.ModelMetrics)
	if v, ok := ann[AnnotationModelMetrics]; ok {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" && !slices.Contains(items, item) {
				items = append(items, item)
			}
		}
	}
	s.agent.ModelMetrics = strings.Join(items, ",")
	if v, ok := ann[AnnotationModelMetricsPath]; ok {
		s.agent.ModelMetricsPath = v
	}
	if v, ok := ann[AnnotationModelReadyPath]; ok {
		s.agent.ModelReadyPath = v
	}
	if v, ok := ann[AnnotationForwardedHeaders]; ok {
		s.agent.ForwardedHeaders = v
	}

	quantity := func(key string, list *corev1.ResourceList, name corev1.ResourceName) {
		v, ok := ann[key]
		if !ok {
			return
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			bad(key, "want a positive quantity such as 100m or 128Mi")
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
	}
	quantity(AnnotationSidecarCPU, &s.resources.Requests, corev1.ResourceCPU)
	quantity(AnnotationSidecarCPULimit, &s.resources.Limits, corev1.ResourceCPU)
	quantity(AnnotationSidecarMemory, &s.resources.Requests, corev1.ResourceMemory)
	quantity(AnnotationSidecarMemoryLimit, &s.resources.Limits, corev1.ResourceMemory)
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := s.resources.Requests[name]
		lim, hasLim := s.resources.Limits[name]
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Sprintf("the sidecar's %s request %s (%s) exceeds its limit %s (%s)",
				name, req.String(), sourceOf(ann, resourceAnnotations[name][0]), lim.String(), sourceOf(ann, resourceAnnotations[name][1])))
		}
	}

	if len(errs) > 0 {
		return settings{}, &NotInjectableError{Reason: strings.Join(errs, "; ")}
	}
	return s, nil
}

// resourceAnnotations are the request and limit annotations of each sidecar resource.
var resourceAnnotations = map[corev1.ResourceName][2]string{
	corev1.ResourceCPU:    {AnnotationSidecarCPU, AnnotationSidecarCPULimit},
	corev1.ResourceMemory: {AnnotationSidecarMemory, AnnotationSidecarMemoryLimit},
}

// sourceOf says where a value came from: the annotation when the pod set it, else the template.
func sourceOf(ann map[string]string, key string) string {
	if _, ok := ann[key]; ok {
		return key
	}
	return "the webhook's default"
}

// checkAgent validates the agent's configuration as the agent will at start, so a pod is
// never given a sidecar that refuses to start. Each error names the annotation that set the
// value, or the webhook flag when the template did.
func checkAgent(a *agentv1.Config, ann map[string]string) error {
	errs := a.Check()
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, agentMessage(e, ann))
	}
	return &NotInjectableError{Reason: strings.Join(msgs, "; ")}
}

// agentMessage words an invalid agent setting as the annotation the pod set for it (or for
// one of the other settings the error is about), else as the agent's flag the template set.
func agentMessage(e agentv1.FieldError, ann map[string]string) string {
	for _, flag := range append([]string{e.Flag}, e.Others...) {
		if key, ok := agentAnnotation[flag]; ok {
			if v, set := ann[key]; set {
				return fmt.Sprintf("%s=%q: the agent's --%s %s: %s", key, v, e.Flag, e.Value, e.Detail)
			}
		}
	}
	return "the agent's " + e.Error()
}
