package inject

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/api/v1alpha1"
)

// GPU access of the agent. Documented in webhook/README.md (GPU attribution).
const (
	// AnnotationGPUClaims names the pod's ResourceClaims that hold its GPUs, comma-separated,
	// or "none"; by default every claim a regular container uses.
	AnnotationGPUClaims = "inferscale.io/gpu-claims"
	// AnnotationGPUPodResources "true" asks for the kubelet's PodResources socket in the agent,
	// where the webhook allows it (--gpu-pod-resources).
	AnnotationGPUPodResources = "inferscale.io/gpu-pod-resources"

	// PodResourcesVolumeName is the hostPath volume of the kubelet's PodResources directory,
	// mounted read-only at PodResourcesDir.
	PodResourcesVolumeName = "inferscale-pod-resources"
	PodResourcesDir        = "/var/lib/kubelet/pod-resources"

	// LabelPodSecurityEnforce is Pod Security admission's namespace label;
	// PodSecurityUnknown stands for a namespace whose label could not be read.
	LabelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"
	PodSecurityUnknown      = "unknown"
)

// GPUResource is the extended resource of NVIDIA's device plugin.
const GPUResource = v1alpha1.GPUResourceName

// gpuPlan is how the agent of a pod reaches the pod's GPUs, and how it will know they are
// the pod's (a reportv1 attribution; empty for a pod without GPUs).
type gpuPlan struct {
	attribution  string
	claims       []corev1.ResourceClaim
	podResources bool
	warning      string
}

// planGPU decides the agent's GPU access, in order of preference:
//   - the pod's GPUs come from ResourceClaims (DRA) and not from the device plugin: the agent
//     shares the claims, so NVML shows it exactly the pod's devices;
//   - the device plugin's GPUs, with the PodResources socket where the pod asks for it and
//     the webhook and the namespace's Pod Security level allow the hostPath and root it needs;
//   - the device plugin's GPUs otherwise: the NVIDIA runtime's env gives the agent every GPU
//     of the node, and it reports them unattributed.
func planGPU(pod *corev1.Pod, cfg *Config) (gpuPlan, error) {
	claims, err := gpuClaims(pod)
	if err != nil {
		return gpuPlan{}, err
	}
	ask, err := askedPodResources(pod.Annotations)
	if err != nil {
		return gpuPlan{}, err
	}
	if !usesDevicePlugin(pod) {
		if len(claims) == 0 {
			return gpuPlan{}, nil
		}
		return gpuPlan{attribution: reportv1.GPUAttributionDRA, claims: claims}, nil
	}
	p := gpuPlan{attribution: reportv1.GPUAttributionUnattributed}
	fix := fmt.Sprintf("use a ResourceClaim (DRA) for the GPUs, or set %s: \"true\"", AnnotationGPUPodResources)
	switch {
	case !ask:
		p.warning = "the agent cannot tell this pod's GPUs from the node's other GPUs, so the scaler scales on them only where the node has no more GPUs than the pod requests: " + fix
	case !cfg.GPUPodResources:
		p.warning = fmt.Sprintf("%s is set but the webhook does not allow the PodResources socket (--gpu-pod-resources); the agent reports the node's GPUs unattributed", AnnotationGPUPodResources)
	case cfg.NamespacePodSecurity == PodSecurityUnknown:
		p.warning = fmt.Sprintf("%s is set but namespace %s's Pod Security level could not be read; the PodResources socket is not mounted and the agent reports the node's GPUs unattributed",
			AnnotationGPUPodResources, pod.Namespace)
	case cfg.NamespacePodSecurity != "" && cfg.NamespacePodSecurity != "privileged":
		p.warning = fmt.Sprintf("%s is set but namespace %s enforces the %s Pod Security level, which forbids the hostPath volume and root user the PodResources socket needs; the agent reports the node's GPUs unattributed",
			AnnotationGPUPodResources, pod.Namespace, cfg.NamespacePodSecurity)
	default:
		p.attribution, p.podResources = reportv1.GPUAttributionPodResources, true
	}
	return p, nil
}

// WantsPodResources reports whether the pod asks for the PodResources socket, so the handler
// looks up its namespace's Pod Security level only then.
func WantsPodResources(pod *corev1.Pod) bool {
	ask, err := askedPodResources(pod.Annotations)
	return err == nil && ask && usesDevicePlugin(pod)
}

func askedPodResources(ann map[string]string) (bool, error) {
	switch v, ok := ann[AnnotationGPUPodResources]; {
	case !ok || v == "false":
		return false, nil
	case v == "true":
		return true, nil
	default:
		return false, notInjectable("%s=%q: want true or false", AnnotationGPUPodResources, v)
	}
}

// gpuClaims returns the claims the agent shares: those the annotation names, else every claim
// a regular container uses. Each reference keeps its request, as the container has it.
func gpuClaims(pod *corev1.Pod) ([]corev1.ResourceClaim, error) {
	var used []corev1.ResourceClaim
	for _, c := range pod.Spec.Containers {
		for _, rc := range c.Resources.Claims {
			if !slices.Contains(used, rc) {
				used = append(used, rc)
			}
		}
	}
	v, ok := pod.Annotations[AnnotationGPUClaims]
	if !ok {
		return used, nil
	}
	if v == "none" {
		return nil, nil
	}
	var out []corev1.ResourceClaim
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(pod.Spec.ResourceClaims, func(c corev1.PodResourceClaim) bool { return c.Name == name }) {
			return nil, notInjectable("%s=%q: the pod has no resource claim %q", AnnotationGPUClaims, v, name)
		}
		n := len(out)
		for _, rc := range used {
			if rc.Name == name {
				out = append(out, rc)
			}
		}
		if len(out) == n {
			out = append(out, corev1.ResourceClaim{Name: name})
		}
	}
	return out, nil
}

// usesDevicePlugin reports whether a container of the pod requests the NVIDIA device plugin's
// GPUs or MIG slices.
func usesDevicePlugin(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		for _, list := range []corev1.ResourceList{c.Resources.Limits, c.Resources.Requests} {
			for name, q := range list {
				if v1alpha1.IsDevicePluginGPU(name) && q.Sign() > 0 {
					return true
				}
			}
		}
	}
	return false
}

// apply gives the agent container c the GPU access p plans.
func (p gpuPlan) apply(c *corev1.Container) {
	switch {
	case p.attribution == "":
		return
	case len(p.claims) > 0:
		// The DRA driver's CDI spec gives the agent the claimed devices and NVML, nothing else.
		c.Resources.Claims = slices.Clone(p.claims)
		c.Args = append(c.Args, "--gpu-attribution=dra")
		return
	}
	// The NVIDIA container runtime mounts NVML only into containers that ask for it; the
	// agent requests no GPU of its own, and needs the utility capability (NVML) only. Where
	// the runtime ignores this variable in unprivileged containers, GPU reporting is off.
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"},
		corev1.EnvVar{Name: "NVIDIA_DRIVER_CAPABILITIES", Value: "utility"})
	if p.podResources {
		c.Args = append(c.Args, "--pod-resources-socket="+PodResourcesDir+"/kubelet.sock")
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: PodResourcesVolumeName, MountPath: PodResourcesDir, ReadOnly: true})
		// The kubelet's socket is root's, mode 0755: connecting needs its owner. No
		// capability is needed for that, so all stay dropped.
		c.SecurityContext.RunAsUser, c.SecurityContext.RunAsGroup = ptr.To[int64](0), ptr.To[int64](0)
		c.SecurityContext.RunAsNonRoot = ptr.To(false)
	}
}

func podResourcesVolume() corev1.Volume {
	return corev1.Volume{Name: PodResourcesVolumeName, VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: PodResourcesDir, Type: ptr.To(corev1.HostPathDirectory)},
	}}
}
