// Package inject adds the inferscale agent to a pod as a native sidecar. It is
// pure: a pod and a template in, the injected pod (or why it cannot be
// injected safely) out. Deciding whether a pod wants the agent is package
// optin's job; talking to the API server is the handler's.
package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

// Names every injection uses. They are part of the contract with the scaler
// (the token's audience) and the manifests (the port name); the agent's side
// of it is api/agent/v1.
const (
	// ContainerName is the name of the injected sidecar.
	ContainerName = "inferscale-agent"
	// TokenVolumeName is the projected service-account token volume.
	TokenVolumeName = "inferscale-token"
	// CAVolumeName is the projected ClusterTrustBundle the agent trusts the scaler by.
	CAVolumeName = "inferscale-ca"
	// TokenAudience is the audience the scaler's TokenReview asks for.
	TokenAudience = "inferscale-scaler"
	// AdminPortName names the agent's port of /metrics, /readyz and /healthz
	// (at most 15 characters, as port names must be).
	AdminPortName = "inferscale"
	// LabelAgent, set to "true" on every injected pod, lets a PodMonitor select the agents
	// (manifests/prometheus/podmonitor.yaml).
	LabelAgent = "inferscale.io/agent"
)

// Annotations read from the pod (its template). Documented in webhook/README.md.
const (
	AnnotationStatus             = "inferscale.io/status"
	AnnotationPort               = "inferscale.io/port"
	AnnotationProtocol           = "inferscale.io/protocol"
	AnnotationModelMetrics       = "inferscale.io/model-metrics"
	AnnotationModelMetricsPath   = "inferscale.io/model-metrics-path"
	AnnotationModelMetricsPort   = "inferscale.io/model-metrics-port"
	AnnotationModelReadyPath     = "inferscale.io/model-ready-path"
	AnnotationMaxConcurrency     = "inferscale.io/max-concurrency"
	AnnotationQueueSize          = "inferscale.io/queue-size"
	AnnotationSidecarCPU         = "inferscale.io/sidecar-cpu"
	AnnotationSidecarCPULimit    = "inferscale.io/sidecar-cpu-limit"
	AnnotationSidecarMemory      = "inferscale.io/sidecar-memory"
	AnnotationSidecarMemoryLimit = "inferscale.io/sidecar-memory-limit"
	AnnotationAgentPort          = "inferscale.io/agent-port"
	AnnotationAgentAdminPort     = "inferscale.io/agent-admin-port"
	AnnotationForwardedHeaders   = "inferscale.io/forwarded-headers"
)

// Config is the injection template: what every injected sidecar gets unless a
// pod annotation overrides it. The webhook fills it from flags.
type Config struct {
	// Image of the agent, e.g. inferscale/inferscale-agent:v0.1.0.
	Image string
	// ImagePullPolicy of the agent image.
	ImagePullPolicy corev1.PullPolicy
	// Version of the agent, recorded in the status annotation. Empty: the image tag.
	Version string
	// ScalerURL is where the agent pushes reports; empty: it sends none.
	ScalerURL string
	// TrustBundle names the ClusterTrustBundle that holds the CAs the agent trusts for the
	// scaler; it is projected into the pod, so the agent follows a CA rotation. Empty: the
	// agent trusts the system roots.
	TrustBundle string
	// ForwardedHeaders is the agent's policy for the client's forwarding headers
	// (agentv1.ForwardedStrip, ...); a pod overrides it with AnnotationForwardedHeaders.
	ForwardedHeaders string
	// ListenPort serves client traffic; AdminPort serves /metrics and probes.
	ListenPort int32
	AdminPort  int32
	// Resources of the sidecar.
	Resources corev1.ResourceRequirements
	// RunAsUser is the non-root UID (and GID) of the agent.
	RunAsUser int64
	// TokenExpirationSeconds of the projected token; the kubelet rotates it at 80%.
	TokenExpirationSeconds int64
	// AgentLogLevel and AgentLogFormat are the agents' --log-level and --log-format; empty:
	// the agent's defaults.
	AgentLogLevel, AgentLogFormat string
	// GPUPodResources lets pods ask for the kubelet's PodResources socket in the agent
	// (AnnotationGPUPodResources): a read-only hostPath, and the agent runs as root.
	GPUPodResources bool

	// NamespacePodSecurity is the pod's namespace's LabelPodSecurityEnforce, set per
	// request by the handler for pods that ask for the PodResources socket; empty: not
	// known, or not enforced.
	NamespacePodSecurity string

	// ModelMetrics are the gauges that the policies targeting the pod's workload scale on
	// (set per pod by the injector): the agent scrapes them, and the names or presets of
	// the pod's inferscale.io/model-metrics annotation besides.
	ModelMetrics []string
}

// ScalerURL is the report endpoint of the scaler installed in namespace (its Service).
func ScalerURL(namespace string) string {
	return "https://inferscale-scaler." + namespace + ".svc:8443"
}

// DefaultConfig returns the template of a default install.
func DefaultConfig() Config {
	return Config{
		Image:            "inferscale/inferscale-agent:v0.1.0",
		ImagePullPolicy:  corev1.PullIfNotPresent,
		ScalerURL:        ScalerURL("inferscale-system"),
		TrustBundle:      "inferscale-scaler-ca",
		ForwardedHeaders: agentv1.ForwardedStrip,
		ListenPort:       9080,
		AdminPort:        9090,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("50m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
		},
		RunAsUser:              65532,
		TokenExpirationSeconds: 3600,
	}
}

// Validate reports the first template setting that would produce broken pods,
// so the webhook refuses to start rather than inject them.
func (c *Config) Validate() error {
	if c.Image == "" {
		return fmt.Errorf("agent image: must be set")
	}
	// The template's agent settings, as every pod that overrides none of them gets them;
	// a port no model uses stands in for the fronted one.
	a := agentBase(c)
	a.UpstreamPort = 1
	if a.ListenPort == 1 || a.AdminPort == 1 {
		a.UpstreamPort = 2
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("agent template: %w", err)
	}
	if c.RunAsUser <= 0 {
		return fmt.Errorf("agent runAsUser %d: must be a non-root UID", c.RunAsUser)
	}
	if c.TokenExpirationSeconds < 600 {
		return fmt.Errorf("token expiration %ds: the API server requires at least 600", c.TokenExpirationSeconds)
	}
	if c.TrustBundle != "" {
		if msgs := validation.IsDNS1123Subdomain(c.TrustBundle); len(msgs) > 0 {
			return fmt.Errorf("agent trust bundle %q: %s", c.TrustBundle, strings.Join(msgs, "; "))
		}
	}
	if msgs := validation.IsValidPortName(AdminPortName); len(msgs) > 0 {
		return fmt.Errorf("admin port name: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// version is the agent version recorded in the status: the configured one, or
// the image's tag.
func (c *Config) version() string {
	if c.Version != "" {
		return c.Version
	}
	img := c.Image
	if i := strings.Index(img, "@"); i >= 0 {
		return img[i+1:]
	}
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		return img[i+1:]
	}
	return "latest"
}
