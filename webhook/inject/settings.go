package inject

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// settings are the template with the pod's annotation overrides applied.
type settings struct {
	listenPort int32
	adminPort  int32
	protocol   string // "" means: from the fronted port
	resources  corev1.ResourceRequirements
	agentArgs  []string
}

var (
	// metricNames is what the agent's --model-metrics accepts: presets and
	// Prometheus metric names, comma-separated.
	metricNames = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(,[a-zA-Z_:][a-zA-Z0-9_:]*)*$`)
	// urlPath is an absolute HTTP path without spaces or a query.
	urlPath = regexp.MustCompile(`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`)
)

// settingsFor applies the pod's annotations to the template. A malformed
// override makes the pod not injectable: guessing what the user meant could
// start an agent that misbehaves, while leaving the pod alone is always safe.
func settingsFor(ann map[string]string, cfg *Config) (settings, error) {
	s := settings{
		listenPort: cfg.ListenPort,
		adminPort:  cfg.AdminPort,
		resources:  *cfg.Resources.DeepCopy(),
	}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s=%q: %s", key, ann[key], fmt.Sprintf(format, args...)))
	}

	portOf := func(key string, into *int32) {
		if v, ok := ann[key]; ok {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 || n > 65535 {
				bad(key, "want a port number in 1..65535")
				return
			}
			*into = int32(n)
		}
	}
	portOf(AnnotationAgentPort, &s.listenPort)
	portOf(AnnotationAgentAdminPort, &s.adminPort)
	if s.listenPort == s.adminPort {
		errs = append(errs, fmt.Sprintf("the agent's listen and admin ports are both %d", s.listenPort))
	}

	if v, ok := ann[AnnotationProtocol]; ok {
		switch v {
		case "http", "grpc":
			s.protocol = v
		default:
			bad(AnnotationProtocol, "want http or grpc")
		}
	}
	if v, ok := ann[AnnotationModelMetrics]; ok {
		v = strings.ReplaceAll(v, " ", "")
		if !metricNames.MatchString(v) {
			bad(AnnotationModelMetrics, "want comma-separated presets (vllm, triton, tgi) or Prometheus metric names")
		} else {
			s.agentArgs = append(s.agentArgs, "--model-metrics="+v)
		}
	}
	pathArg := func(key, flag string) {
		if v, ok := ann[key]; ok {
			if len(v) > 1024 || !urlPath.MatchString(v) {
				bad(key, "want an absolute URL path such as /metrics")
				return
			}
			s.agentArgs = append(s.agentArgs, "--"+flag+"="+v)
		}
	}
	pathArg(AnnotationModelMetricsPath, "model-metrics-path")
	pathArg(AnnotationModelReadyPath, "model-ready-path")
	intArg := func(key, flag string, lo, hi int64) {
		if v, ok := ann[key]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < lo || n > hi {
				bad(key, "want an integer in %d..%d", lo, hi)
				return
			}
			s.agentArgs = append(s.agentArgs, "--"+flag+"="+strconv.FormatInt(n, 10))
		}
	}
	intArg(AnnotationModelMetricsPort, "model-metrics-port", 1, 65535)
	intArg(AnnotationMaxConcurrency, "max-concurrency", 0, 1<<20)
	intArg(AnnotationQueueSize, "queue-size", 0, 1<<20)

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
			errs = append(errs, fmt.Sprintf("the sidecar's %s request %s exceeds its limit %s", name, req.String(), lim.String()))
		}
	}

	if len(errs) > 0 {
		return settings{}, &NotInjectableError{Reason: strings.Join(errs, "; ")}
	}
	return s, nil
}
