package inject

import (
	"flag"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// BindFlags registers the template's flags (--agent-*, --scaler-url) with the
// current values as defaults.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Image, "agent-image", c.Image, "image of the injected agent sidecar")
	fs.Func("agent-image-pull-policy", fmt.Sprintf("pull policy of the agent image: Always, IfNotPresent or Never (default %s)", c.ImagePullPolicy), func(v string) error {
		switch p := corev1.PullPolicy(v); p {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			c.ImagePullPolicy = p
			return nil
		}
		return fmt.Errorf("want Always, IfNotPresent or Never")
	})
	fs.StringVar(&c.Version, "agent-version", c.Version, "agent version recorded in the inferscale.io/status annotation; empty: the image tag")
	fs.StringVar(&c.AgentLogLevel, "agent-log-level", c.AgentLogLevel, "--log-level of the injected agents (error, info, debug, 0..10); empty: the agent's default, info")
	fs.StringVar(&c.AgentLogFormat, "agent-log-format", c.AgentLogFormat, "--log-format of the injected agents (json, console); empty: the agent's default, json")
	fs.StringVar(&c.ScalerURL, "scaler-url", c.ScalerURL, "URL the agents push reports to; empty: they send none")
	fs.StringVar(&c.TrustBundle, "agent-trust-bundle", c.TrustBundle, "ClusterTrustBundle projected into agents to trust the scaler by (the scaler publishes it; the kubelet refreshes it); empty: the system roots")
	fs.StringVar(&c.ForwardedHeaders, "agent-forwarded-headers", c.ForwardedHeaders, "what agents do with a client's Forwarded, X-Forwarded-* and X-Real-IP headers: strip, append or preserve; a pod overrides it with "+AnnotationForwardedHeaders)
	port := func(name, usage string, p *int32) {
		fs.Func(name, fmt.Sprintf("%s (default %d)", usage, *p), func(v string) error {
			var n int32
			if _, err := fmt.Sscan(v, &n); err != nil {
				return err
			}
			*p = n
			return nil
		})
	}
	port("agent-port", "port the agent serves client traffic on; a pod overrides it with inferscale.io/agent-port", &c.ListenPort)
	port("agent-admin-port", "port of the agent's /metrics and probes; a pod overrides it with inferscale.io/agent-admin-port", &c.AdminPort)
	quantity := func(name, usage string, list *corev1.ResourceList, res corev1.ResourceName) {
		def := "none"
		if q, ok := (*list)[res]; ok {
			def = q.String()
		}
		fs.Func(name, fmt.Sprintf("%s; empty for none (default %s)", usage, def), func(v string) error {
			if v == "" {
				delete(*list, res)
				return nil
			}
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return err
			}
			if *list == nil {
				*list = corev1.ResourceList{}
			}
			(*list)[res] = q
			return nil
		})
	}
	quantity("agent-cpu", "CPU request of the agent", &c.Resources.Requests, corev1.ResourceCPU)
	quantity("agent-cpu-limit", "CPU limit of the agent", &c.Resources.Limits, corev1.ResourceCPU)
	quantity("agent-memory", "memory request of the agent", &c.Resources.Requests, corev1.ResourceMemory)
	quantity("agent-memory-limit", "memory limit of the agent", &c.Resources.Limits, corev1.ResourceMemory)
	fs.Int64Var(&c.RunAsUser, "agent-run-as-user", c.RunAsUser, "non-root UID and GID the agent runs as")
	fs.BoolVar(&c.GPUPodResources, "gpu-pod-resources", c.GPUPodResources, "let GPU pods ask for the kubelet's PodResources socket in the agent with "+AnnotationGPUPodResources+"=true: exact GPU attribution with the device plugin, at the price of a read-only hostPath and a root agent (the privileged Pod Security level)")
	fs.Int64Var(&c.TokenExpirationSeconds, "agent-token-expiration", c.TokenExpirationSeconds, "lifetime in seconds of the agent's projected token (the kubelet renews it at 80%)")
}
