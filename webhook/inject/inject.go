package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

// Status is what an injection did, recorded as JSON in the pod annotation
// inferscale.io/status: it makes injection idempotent and tells a reader
// which port the agent fronts.
type Status struct {
	// Container is the injected sidecar's name.
	Container string `json:"container"`
	// Image and Version of the agent.
	Image   string `json:"image"`
	Version string `json:"version"`
	// Volumes added to the pod.
	Volumes []string `json:"volumes"`
	// FrontedContainer serves FrontedPort; empty when the port was given by
	// number and no container declares it.
	FrontedContainer string `json:"frontedContainer,omitempty"`
	FrontedPort      int32  `json:"frontedPort"`
	// PortName is the name the agent took over from the model; empty when
	// the fronted port had none.
	PortName   string `json:"portName,omitempty"`
	ListenPort int32  `json:"listenPort"`
	AdminPort  int32  `json:"adminPort"`
	Protocol   string `json:"protocol"`
	// GPU is true when the pod has GPUs, so the agent was given NVML access;
	// GPUAttribution says how the agent knows they are the pod's (DRA,
	// PodResources or Unattributed), and GPUClaims are the ResourceClaims it
	// shares with the model.
	GPU            bool     `json:"gpu,omitempty"`
	GPUAttribution string   `json:"gpuAttribution,omitempty"`
	GPUClaims      []string `json:"gpuClaims,omitempty"`
}

// Result of an injection.
type Result struct {
	// Pod is the injected copy; nil when the pod already had the agent.
	Pod *corev1.Pod
	// Status describes the agent the pod has.
	Status Status
	// AlreadyInjected is true when the pod already had the agent: a second
	// admission or a reinvocation changes nothing.
	AlreadyInjected bool
	// Warnings are for the user: the pod is injected, but something may not
	// work as they expect.
	Warnings []string
}

// NotInjectableError says why a pod cannot be injected safely. The pod is
// then admitted unchanged: a pod without the agent runs, a broken pod does not.
type NotInjectableError struct{ Reason string }

func (e *NotInjectableError) Error() string { return "not injected: " + e.Reason }

func notInjectable(format string, args ...any) error {
	return &NotInjectableError{Reason: fmt.Sprintf(format, args...)}
}

// Inject returns pod with the agent added as a native sidecar in front of the
// model's serving port. It does not modify pod. An error is always a
// *NotInjectableError.
func Inject(pod *corev1.Pod, cfg *Config) (Result, error) {
	if pod == nil {
		return Result{}, notInjectable("no pod")
	}
	if st, found, err := existing(pod); found {
		if err != nil {
			return Result{}, err
		}
		return Result{Status: st, AlreadyInjected: true}, nil
	}
	if pod.Spec.HostNetwork {
		return Result{}, notInjectable("the pod uses the host network, where the agent's ports would collide between pods")
	}
	s, err := settingsFor(pod.Annotations, cfg)
	if err != nil {
		return Result{}, err
	}
	target, err := choosePort(pod, pod.Annotations[AnnotationPort])
	if err != nil {
		return Result{}, err
	}
	gpu, err := planGPU(pod, cfg)
	if err != nil {
		return Result{}, err
	}
	volumes := []corev1.Volume{tokenVolume(cfg)}
	if cfg.TrustBundle != "" {
		volumes = append(volumes, caVolume(cfg))
	}
	if gpu.podResources {
		volumes = append(volumes, podResourcesVolume())
	}
	if err := checkConflicts(pod, target, s, volumes); err != nil {
		return Result{}, err
	}
	protocol := s.protocol
	if protocol == "" {
		protocol = protocolOf(target)
	}
	s.agent.UpstreamPort, s.agent.Protocol = int(target.number), protocol
	if err := checkAgent(&s.agent, pod.Annotations); err != nil {
		return Result{}, err
	}

	out := pod.DeepCopy()
	var warnings []string
	if target.name != "" {
		takeOverName(out, target.name)
	} else {
		warnings = append(warnings, fmt.Sprintf("the fronted port %d has no name, so a Service cannot reach the agent by it: "+
			"name the port (e.g. http) so the agent takes the name over, or target the agent's port %d", target.number, s.agent.ListenPort))
	}
	if target.container == "" {
		warnings = append(warnings, fmt.Sprintf("no container declares port %d (from %s); the agent fronts it on port %d", target.number, AnnotationPort, s.agent.ListenPort))
	}
	if gpu.warning != "" {
		warnings = append(warnings, gpu.warning)
	}

	st := Status{
		Container:        ContainerName,
		Image:            cfg.Image,
		Version:          cfg.version(),
		Volumes:          make([]string, 0, len(volumes)),
		FrontedContainer: target.container,
		FrontedPort:      target.number,
		PortName:         target.name,
		ListenPort:       int32(s.agent.ListenPort),
		AdminPort:        int32(s.agent.AdminPort),
		Protocol:         protocol,
		GPU:              gpu.attribution != "",
		GPUAttribution:   gpu.attribution,
	}
	for _, v := range volumes {
		st.Volumes = append(st.Volumes, v.Name)
	}
	for _, c := range gpu.claims {
		if !slices.Contains(st.GPUClaims, c.Name) {
			st.GPUClaims = append(st.GPUClaims, c.Name)
		}
	}
	agent := sidecar(cfg, s, st)
	gpu.apply(&agent)
	out.Spec.InitContainers = append(out.Spec.InitContainers, agent)
	out.Spec.Volumes = append(out.Spec.Volumes, volumes...)
	raw, err := json.Marshal(st)
	if err != nil {
		return Result{}, notInjectable("recording the status: %v", err)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationStatus] = string(raw)
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[LabelAgent] = "true"
	return Result{Pod: out, Status: st, Warnings: warnings}, nil
}

// Injected reports whether the pod already has the agent inferscale injected,
// so a reinvocation can answer before any lookup.
func Injected(pod *corev1.Pod) bool {
	_, found, err := existing(pod)
	return found && err == nil
}

// existing finds an agent container already in the pod. With a valid status
// it is ours (injected before); without, it is someone else's container of
// the same name, which injection must not clobber.
func existing(pod *corev1.Pod) (Status, bool, error) {
	found := slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == ContainerName }) ||
		slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == ContainerName })
	if !found {
		return Status{}, false, nil
	}
	raw, ok := pod.Annotations[AnnotationStatus]
	if !ok {
		return Status{}, true, notInjectable("the pod already has a container named %s that inferscale did not inject", ContainerName)
	}
	var st Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.Container != ContainerName {
		return Status{}, true, notInjectable("the pod has a container named %s and an unreadable %s annotation", ContainerName, AnnotationStatus)
	}
	return st, true, nil
}

// port is the serving port the agent fronts.
type port struct {
	container string // "" when given by number and not declared
	name      string
	number    int32
}

// Well-known names of a serving port, in order of preference: the agent's
// http mode passes gRPC through too, so http wins when a container has both.
var servingPortNames = []string{"http", "grpc"}

// seldonExecutor is the container Seldon Core puts in front of the model
// graph; its port, not a model's, is where a SeldonDeployment's traffic enters.
const seldonExecutor = "seldon-container-engine"

// choosePort finds the port to front (webhook/README.md): the port named or
// numbered by the annotation, else the only port, else the one named
// http/grpc (for Seldon pods, the executor's).
func choosePort(pod *corev1.Pod, want string) (port, error) {
	var all []port
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			all = append(all, port{container: c.Name, name: p.Name, number: p.ContainerPort})
		}
	}
	if want != "" {
		n, numErr := strconv.ParseInt(want, 10, 32)
		var matches []port
		for _, p := range all {
			if (numErr == nil && p.number == int32(n)) || (numErr != nil && p.name == want) {
				matches = append(matches, p)
			}
		}
		switch {
		case len(matches) >= 1:
			// Several containers declaring the same number cannot all listen
			// on it in one network namespace; the first is the real one.
			return matches[0], nil
		case numErr == nil && n >= 1 && n <= 65535:
			return port{number: int32(n)}, nil
		case numErr == nil:
			return port{}, notInjectable("%s=%q is not a port number in 1..65535", AnnotationPort, want)
		default:
			return port{}, notInjectable("%s=%q names no TCP port of the pod's containers", AnnotationPort, want)
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	if len(all) == 0 {
		return port{}, notInjectable("no container declares a TCP port to front: declare the serving port or set %s", AnnotationPort)
	}
	for _, name := range servingPortNames {
		var named []port
		for _, p := range all {
			if p.name == name {
				named = append(named, p)
			}
		}
		if len(named) == 1 {
			return named[0], nil
		}
		if i := slices.IndexFunc(named, func(p port) bool { return p.container == seldonExecutor }); i >= 0 {
			return named[i], nil
		}
		if len(named) > 1 {
			return port{}, notInjectable("several containers have a port named %s: set %s to the one to front", name, AnnotationPort)
		}
	}
	return port{}, notInjectable("the pod has %d ports and none is named http or grpc: set %s to the one to front", len(all), AnnotationPort)
}

func protocolOf(p port) string {
	switch {
	case p.name == "grpc", strings.HasPrefix(p.name, "grpc-"):
		return "grpc"
	default:
		return "http"
	}
}

// checkConflicts refuses what would break the pod: agent ports already in use,
// names already taken.
func checkConflicts(pod *corev1.Pod, target port, s settings, volumes []corev1.Volume) error {
	listenPort, adminPort := int32(s.agent.ListenPort), int32(s.agent.AdminPort)
	if listenPort == target.number || adminPort == target.number {
		return notInjectable("the agent's ports %d/%d include the fronted port %d: set %s or %s",
			listenPort, adminPort, target.number, AnnotationAgentPort, AnnotationAgentAdminPort)
	}
	var errs []error
	check := func(containers []corev1.Container) {
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.ContainerPort == listenPort || p.ContainerPort == adminPort {
					errs = append(errs, notInjectable("container %s already uses port %d, which the agent needs: set %s or %s",
						c.Name, p.ContainerPort, AnnotationAgentPort, AnnotationAgentAdminPort))
				}
				if p.Name == AdminPortName {
					errs = append(errs, notInjectable("container %s already has a port named %s", c.Name, AdminPortName))
				}
			}
		}
	}
	check(pod.Spec.Containers)
	check(pod.Spec.InitContainers)
	if target.name != "" {
		// The agent takes the name from the regular containers only; a
		// sidecar that already has it would keep winning the Service.
		for _, c := range pod.Spec.InitContainers {
			if slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == target.name }) {
				errs = append(errs, notInjectable("init container %s already has a port named %s", c.Name, target.name))
			}
		}
	}
	for _, add := range volumes {
		if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == add.Name }) {
			errs = append(errs, notInjectable("the pod already has a volume named %s", add.Name))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// takeOverName removes name from the ports of the regular containers, so a
// Service targeting it by name resolves to the agent (the endpoints
// controller looks at regular containers before sidecars), and rewrites each
// of those containers' probes and lifecycle hooks that used the name to the
// number, so the model is still probed directly.
func takeOverName(pod *corev1.Pod, name string) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for j := range c.Ports {
			if c.Ports[j].Name != name {
				continue
			}
			number := intstr.FromInt32(c.Ports[j].ContainerPort)
			c.Ports[j].Name = ""
			for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if p != nil {
					rewritePort(p.HTTPGet, p.TCPSocket, name, number)
				}
			}
			if l := c.Lifecycle; l != nil {
				for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
					if h != nil {
						rewritePort(h.HTTPGet, h.TCPSocket, name, number)
					}
				}
			}
		}
	}
}

func rewritePort(h *corev1.HTTPGetAction, t *corev1.TCPSocketAction, name string, number intstr.IntOrString) {
	if h != nil && h.Port.Type == intstr.String && h.Port.StrVal == name {
		h.Port = number
	}
	if t != nil && t.Port.Type == intstr.String && t.Port.StrVal == name {
		t.Port = number
	}
}

func sidecar(cfg *Config, s settings, st Status) corev1.Container {
	args, agentEnv := s.agent.Render()
	env := make([]corev1.EnvVar, 0, len(agentEnv)+2)
	for _, e := range agentEnv {
		if e.FieldPath != "" {
			env = append(env, fieldEnv(e.Name, e.FieldPath))
		} else {
			env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
		}
	}
	listen := corev1.ContainerPort{Name: st.PortName, ContainerPort: st.ListenPort, Protocol: corev1.ProtocolTCP}
	admin := corev1.ContainerPort{Name: AdminPortName, ContainerPort: st.AdminPort, Protocol: corev1.ProtocolTCP}
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(st.AdminPort), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 1, SuccessThreshold: 1,
		}
	}
	return corev1.Container{
		Name:            ContainerName,
		Image:           cfg.Image,
		ImagePullPolicy: cfg.ImagePullPolicy,
		// A native sidecar: started before the model containers, stopped
		// after them, so no request reaches the model unmeasured and the
		// agent drains while the model does.
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Args:          args,
		Env:           env,
		Ports:         []corev1.ContainerPort{listen, admin},
		// The startup probe holds the model containers until the proxy
		// listens, so the first request does not race the agent.
		StartupProbe:   probe("/healthz", 1, 30),
		ReadinessProbe: probe("/readyz", 2, 2),
		LivenessProbe:  probe("/healthz", 10, 3),
		Resources:      s.resources,
		VolumeMounts:   mounts(cfg),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To(cfg.RunAsUser),
			RunAsGroup:               ptr.To(cfg.RunAsUser),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

func tokenVolume(cfg *Config) corev1.Volume {
	return corev1.Volume{Name: TokenVolumeName, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o444),
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          TokenAudience,
				ExpirationSeconds: ptr.To(cfg.TokenExpirationSeconds),
				Path:              path.Base(agentv1.DefaultTokenFile),
			}}},
		},
	}}
}

// caVolume projects the ClusterTrustBundle the scaler publishes. Optional: a pod created
// before the scaler published it still starts (its agent reports once the kubelet has
// projected the bundle), since the sidecar must never keep a pod from running.
func caVolume(cfg *Config) corev1.Volume {
	return corev1.Volume{Name: CAVolumeName, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o444),
			Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{
				Name:     ptr.To(cfg.TrustBundle),
				Optional: ptr.To(true),
				Path:     path.Base(agentv1.CAFile),
			}}},
		},
	}}
}

func mounts(cfg *Config) []corev1.VolumeMount {
	m := []corev1.VolumeMount{{Name: TokenVolumeName, MountPath: agentv1.TokenDir, ReadOnly: true}}
	if cfg.TrustBundle != "" {
		m = append(m, corev1.VolumeMount{Name: CAVolumeName, MountPath: agentv1.CADir, ReadOnly: true})
	}
	return m
}

// IsNotInjectable reports whether err says a pod cannot be injected safely.
func IsNotInjectable(err error) bool {
	var e *NotInjectableError
	return errors.As(err, &e)
}
