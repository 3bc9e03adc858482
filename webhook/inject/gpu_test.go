package inject

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

func withLimit(c corev1.Container, name corev1.ResourceName) corev1.Container {
	c.Resources.Limits = corev1.ResourceList{name: resource.MustParse("1")}
	return c
}

func withClaims(c corev1.Container, claims ...corev1.ResourceClaim) corev1.Container {
	c.Resources.Claims = claims
	return c
}

// draPod has claims gpu and nic; the model uses the gpu claim's request "one", the tokenizer
// the nic.
func draPod(ann map[string]string) *corev1.Pod {
	p := podOf(ann,
		withClaims(container("model", cport("http", 8000)), corev1.ResourceClaim{Name: "gpu", Request: "one"}),
		withClaims(container("tokenizer"), corev1.ResourceClaim{Name: "nic"}))
	p.Spec.ResourceClaims = []corev1.PodResourceClaim{
		{Name: "gpu", ResourceClaimTemplateName: ptr.To("single-gpu")},
		{Name: "nic", ResourceClaimName: ptr.To("rdma")},
	}
	return p
}

func TestInjectGPUAttribution(t *testing.T) {
	gpuPod := func(ann map[string]string) *corev1.Pod {
		return podOf(ann, withLimit(container("model", cport("http", 8000)), GPUResource))
	}
	askPR := map[string]string{AnnotationGPUPodResources: "true"}
	type want struct {
		attribution  string
		claims       []corev1.ResourceClaim
		nvidiaEnv    bool
		podResources bool
		warning      string // a substring of the one GPU warning; "" for none
	}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		cfg  func(*Config)
		want want
	}{
		{"CPU pod", podOf(nil, container("model", cport("http", 8000))), nil, want{}},
		{"device plugin GPU", gpuPod(nil), nil,
			want{attribution: reportv1.GPUAttributionUnattributed, nvidiaEnv: true, warning: "cannot tell this pod's GPUs"}},
		{"device plugin MIG slice", podOf(nil, withLimit(container("model", cport("http", 8000)), "nvidia.com/mig-1g.10gb")), nil,
			want{attribution: reportv1.GPUAttributionUnattributed, nvidiaEnv: true, warning: "cannot tell"}},
		{"DRA: every claim a container uses", draPod(nil), nil,
			want{attribution: reportv1.GPUAttributionDRA, claims: []corev1.ResourceClaim{{Name: "gpu", Request: "one"}, {Name: "nic"}}}},
		{"DRA: the claims the annotation names", draPod(map[string]string{AnnotationGPUClaims: "gpu"}), nil,
			want{attribution: reportv1.GPUAttributionDRA, claims: []corev1.ResourceClaim{{Name: "gpu", Request: "one"}}}},
		{"DRA: no claim holds GPUs", draPod(map[string]string{AnnotationGPUClaims: "none"}), nil, want{}},
		{"PodResources asked and allowed", gpuPod(askPR), func(c *Config) { c.GPUPodResources = true },
			want{attribution: reportv1.GPUAttributionPodResources, nvidiaEnv: true, podResources: true}},
		{"PodResources in a privileged namespace", gpuPod(askPR), func(c *Config) { c.GPUPodResources, c.NamespacePodSecurity = true, "privileged" },
			want{attribution: reportv1.GPUAttributionPodResources, nvidiaEnv: true, podResources: true}},
		{"PodResources not allowed by the webhook", gpuPod(askPR), nil,
			want{attribution: reportv1.GPUAttributionUnattributed, nvidiaEnv: true, warning: "--gpu-pod-resources"}},
		{"PodResources in a baseline namespace", gpuPod(askPR), func(c *Config) { c.GPUPodResources, c.NamespacePodSecurity = true, "baseline" },
			want{attribution: reportv1.GPUAttributionUnattributed, nvidiaEnv: true, warning: "enforces the baseline Pod Security level"}},
		{"PodResources, namespace unreadable", gpuPod(askPR), func(c *Config) { c.GPUPodResources, c.NamespacePodSecurity = true, PodSecurityUnknown },
			want{attribution: reportv1.GPUAttributionUnattributed, nvidiaEnv: true, warning: "could not be read"}},
		{"PodResources asked by a pod without device plugin GPUs", draPod(askPR), func(c *Config) { c.GPUPodResources = true },
			want{attribution: reportv1.GPUAttributionDRA, claims: []corev1.ResourceClaim{{Name: "gpu", Request: "one"}, {Name: "nic"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			res, err := Inject(tt.pod, cfg)
			if err != nil {
				t.Fatal(err)
			}
			a := agentOf(t, res.Pod)
			env := map[string]string{}
			for _, e := range a.Env {
				env[e.Name] = e.Value
			}
			_, anyEnv := env["NVIDIA_VISIBLE_DEVICES"]
			if nv := env["NVIDIA_VISIBLE_DEVICES"] == "all" && env["NVIDIA_DRIVER_CAPABILITIES"] == "utility"; nv != tt.want.nvidiaEnv || anyEnv != nv {
				t.Errorf("NVIDIA env %v, want %v", env, tt.want.nvidiaEnv)
			}
			if !reflect.DeepEqual(a.Resources.Claims, tt.want.claims) {
				t.Errorf("agent claims %v, want %v", a.Resources.Claims, tt.want.claims)
			}
			if slices.Contains(a.Args, "--gpu-attribution=dra") != (tt.want.attribution == reportv1.GPUAttributionDRA) {
				t.Errorf("args %v", a.Args)
			}
			st := res.Status
			if st.GPUAttribution != tt.want.attribution || st.GPU != (tt.want.attribution != "") {
				t.Errorf("status GPU %v %q, want %q", st.GPU, st.GPUAttribution, tt.want.attribution)
			}
			var claimNames []string
			for _, c := range tt.want.claims {
				claimNames = append(claimNames, c.Name)
			}
			if !slices.Equal(st.GPUClaims, claimNames) {
				t.Errorf("status claims %v, want %v", st.GPUClaims, claimNames)
			}

			mounted := slices.ContainsFunc(a.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == PodResourcesVolumeName && m.MountPath == PodResourcesDir && m.ReadOnly
			})
			vol := slices.IndexFunc(res.Pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == PodResourcesVolumeName })
			root := *a.SecurityContext.RunAsUser == 0 && !*a.SecurityContext.RunAsNonRoot
			if mounted != tt.want.podResources || (vol >= 0) != tt.want.podResources || root != tt.want.podResources ||
				slices.Contains(st.Volumes, PodResourcesVolumeName) != tt.want.podResources {
				t.Errorf("PodResources: mounted %v, volume %v, root %v, status volumes %v; want %v", mounted, vol >= 0, root, st.Volumes, tt.want.podResources)
			}
			if vol >= 0 {
				if hp := res.Pod.Spec.Volumes[vol].HostPath; hp == nil || hp.Path != PodResourcesDir || *hp.Type != corev1.HostPathDirectory {
					t.Errorf("volume %+v", res.Pod.Spec.Volumes[vol])
				}
			}
			if c := a.SecurityContext; !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) != 0 || *c.AllowPrivilegeEscalation || !*c.ReadOnlyRootFilesystem {
				t.Errorf("security context loosened: %+v", c)
			}
			var gpuWarnings []string
			for _, w := range res.Warnings {
				if strings.Contains(w, "GPU") {
					gpuWarnings = append(gpuWarnings, w)
				}
			}
			if (tt.want.warning == "") != (len(gpuWarnings) == 0) || (len(gpuWarnings) > 0 && (len(gpuWarnings) != 1 || !strings.Contains(gpuWarnings[0], tt.want.warning))) {
				t.Errorf("GPU warnings %q, want one containing %q", gpuWarnings, tt.want.warning)
			}
		})
	}
}

func TestInjectGPUAnnotationsRefused(t *testing.T) {
	gpu := podOf(map[string]string{AnnotationGPUPodResources: "yes"}, withLimit(container("model", cport("http", 8000)), GPUResource))
	taken := podOf(map[string]string{AnnotationGPUPodResources: "true"}, withLimit(container("model", cport("http", 8000)), GPUResource))
	taken.Spec.Volumes = []corev1.Volume{{Name: PodResourcesVolumeName}}
	allow := testConfig()
	allow.GPUPodResources = true
	for _, tt := range []struct {
		name, reason string
		pod          *corev1.Pod
	}{
		{"malformed opt-in", AnnotationGPUPodResources, gpu},
		{"unknown claim", `no resource claim "tpu"`, draPod(map[string]string{AnnotationGPUClaims: "gpu,tpu"})},
		{"volume name taken", "volume named " + PodResourcesVolumeName, taken},
	} {
		_, err := Inject(tt.pod, allow)
		if !IsNotInjectable(err) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("%s: %v, want a refusal naming %q", tt.name, err, tt.reason)
		}
	}
}
