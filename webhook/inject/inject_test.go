package inject

import (
	"encoding/json"
	"flag"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	agentv1 "github.com/inferscale/inferscale/api/agent/v1"
)

func container(name string, ports ...corev1.ContainerPort) corev1.Container {
	for i := range ports {
		ports[i].Protocol = corev1.ProtocolTCP
	}
	return corev1.Container{Name: name, Image: name + ":1", Ports: ports}
}

func cport(name string, n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n}
}

func podOf(ann map[string]string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ai", Annotations: ann},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

func testConfig() *Config {
	c := DefaultConfig()
	return &c
}

func agentOf(t *testing.T, pod *corev1.Pod) corev1.Container {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name == ContainerName {
			return c
		}
	}
	t.Fatalf("no %s init container in %v", ContainerName, pod.Spec.InitContainers)
	return corev1.Container{}
}

// downward is what the kubelet fills the downward API variables with.
var downward = map[string]string{"metadata.name": "p", "metadata.namespace": "ai", "metadata.uid": "u-1", "spec.nodeName": "n1", "status.podIP": "10.88.0.9"}

// startAgent parses the sidecar's args and env as the agent does when the kubelet starts it,
// so a test sees the configuration the agent runs with, or why it would refuse to start.
func startAgent(c corev1.Container) (agentv1.Config, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = downward[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	return agentv1.Load(c.Args, func(k string) string { return env[k] })
}

func mustStartAgent(t *testing.T, pod *corev1.Pod) agentv1.Config {
	t.Helper()
	a, err := startAgent(agentOf(t, pod))
	if err != nil {
		t.Fatalf("the injected agent would not start: %v (args %q)", err, agentOf(t, pod).Args)
	}
	return a
}

func TestInjectChoosesThePort(t *testing.T) {
	tests := []struct {
		name          string
		pod           *corev1.Pod
		wantContainer string
		wantPort      int32
		wantName      string
		wantProtocol  string
	}{
		{
			name:          "single named port",
			pod:           podOf(nil, container("model", cport("http", 8000))),
			wantContainer: "model", wantPort: 8000, wantName: "http", wantProtocol: "http",
		},
		{
			name:          "single unnamed port",
			pod:           podOf(nil, container("model", cport("", 8080))),
			wantContainer: "model", wantPort: 8080, wantProtocol: "http",
		},
		{
			name:          "named http among several ports",
			pod:           podOf(nil, container("model", cport("metrics", 9100), cport("http", 8000))),
			wantContainer: "model", wantPort: 8000, wantName: "http", wantProtocol: "http",
		},
		{
			name:          "grpc port",
			pod:           podOf(nil, container("triton", cport("metrics", 8002), cport("grpc", 8001))),
			wantContainer: "triton", wantPort: 8001, wantName: "grpc", wantProtocol: "grpc",
		},
		{
			name:          "http wins over grpc",
			pod:           podOf(nil, container("triton", cport("grpc", 8001), cport("http", 8000))),
			wantContainer: "triton", wantPort: 8000, wantName: "http", wantProtocol: "http",
		},
		{
			name:          "several containers, one port each, named",
			pod:           podOf(nil, container("cache", cport("redis", 6379)), container("model", cport("http", 8000))),
			wantContainer: "model", wantPort: 8000, wantName: "http", wantProtocol: "http",
		},
		{
			name: "annotation names the port",
			pod: podOf(map[string]string{AnnotationPort: "serve"},
				container("model", cport("serve", 5000), cport("http", 8000))),
			wantContainer: "model", wantPort: 5000, wantName: "serve", wantProtocol: "http",
		},
		{
			name: "annotation numbers the port",
			pod: podOf(map[string]string{AnnotationPort: "5000", AnnotationProtocol: "grpc"},
				container("model", cport("serve", 5000), cport("http", 8000))),
			wantContainer: "model", wantPort: 5000, wantName: "serve", wantProtocol: "grpc",
		},
		{
			name:     "annotation numbers an undeclared port",
			pod:      podOf(map[string]string{AnnotationPort: "7000"}, container("model")),
			wantPort: 7000, wantProtocol: "http",
		},
		{
			name: "Seldon pod fronts the executor",
			pod: podOf(nil,
				container("classifier", cport("http", 9000), cport("grpc", 9500)),
				container(seldonExecutor, cport("http", 8000), cport("grpc", 5001))),
			wantContainer: seldonExecutor, wantPort: 8000, wantName: "http", wantProtocol: "http",
		},
		{
			name: "Seldon pod without executor fronts the model",
			pod: podOf(nil,
				container("classifier", cport("http", 9000), cport("grpc", 9500))),
			wantContainer: "classifier", wantPort: 9000, wantName: "http", wantProtocol: "http",
		},
		{
			name:          "UDP ports are not fronted",
			pod:           podOf(nil, corev1.Container{Name: "model", Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "web", ContainerPort: 8000}}}),
			wantContainer: "model", wantPort: 8000, wantName: "web", wantProtocol: "http",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.pod.DeepCopy()
			res, err := Inject(tt.pod, testConfig())
			if err != nil {
				t.Fatalf("Inject: %v", err)
			}
			if !reflect.DeepEqual(before, tt.pod) {
				t.Fatal("Inject modified its input")
			}
			st := res.Status
			if st.FrontedContainer != tt.wantContainer || st.FrontedPort != tt.wantPort || st.PortName != tt.wantName || st.Protocol != tt.wantProtocol {
				t.Fatalf("fronted %s:%d name %q protocol %s, want %s:%d name %q protocol %s",
					st.FrontedContainer, st.FrontedPort, st.PortName, st.Protocol, tt.wantContainer, tt.wantPort, tt.wantName, tt.wantProtocol)
			}
			agent := agentOf(t, res.Pod)
			if a := mustStartAgent(t, res.Pod); a.UpstreamPort != int(tt.wantPort) || a.Protocol != tt.wantProtocol {
				t.Errorf("agent args %v do not front %d/%s", agent.Args, tt.wantPort, tt.wantProtocol)
			}
			if agent.Ports[0].Name != tt.wantName || agent.Ports[0].ContainerPort != 9080 {
				t.Errorf("agent listen port %+v, want name %q on 9080", agent.Ports[0], tt.wantName)
			}
			if tt.wantName != "" {
				for _, c := range res.Pod.Spec.Containers {
					for _, p := range c.Ports {
						if p.Name == tt.wantName {
							t.Errorf("container %s kept port name %s: the Service would still reach the model", c.Name, p.Name)
						}
					}
				}
			}
			if (tt.wantName == "") != slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "no name") }) {
				t.Errorf("warnings %q: want a no-name warning exactly when the port is unnamed", res.Warnings)
			}
		})
	}
}

func TestInjectedSidecar(t *testing.T) {
	cfg := testConfig()
	pod := podOf(nil, container("model", cport("http", 8000)))
	pod.Spec.InitContainers = []corev1.Container{{Name: "download", Image: "fetch:1"}}
	res, err := Inject(pod, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := res.Pod
	if n := len(out.Spec.InitContainers); n != 2 || out.Spec.InitContainers[0].Name != "download" {
		t.Fatalf("init containers %v: want the existing one first, then the agent", out.Spec.InitContainers)
	}
	agent := out.Spec.InitContainers[1]
	if agent.RestartPolicy == nil || *agent.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("agent is not a native sidecar (restartPolicy Always)")
	}
	if agent.Image != cfg.Image {
		t.Errorf("image %s, want %s", agent.Image, cfg.Image)
	}
	a := mustStartAgent(t, out)
	if a.ListenPort != 9080 || a.AdminPort != 9090 || a.UpstreamPort != 8000 || a.Protocol != "http" || a.ScalerURL != cfg.ScalerURL || a.ForwardedHeaders != agentv1.ForwardedStrip {
		t.Errorf("agent config %+v", a)
	}
	if a.PodName != "p" || a.PodNamespace != "ai" || a.PodUID != "u-1" || a.NodeName != "n1" {
		t.Errorf("pod identity %+v: want the downward API's", a)
	}
	if want := agentv1.TokenDir + "/" + vol(out).Projected.Sources[0].ServiceAccountToken.Path; a.TokenFile != want {
		t.Errorf("the agent reads its token from %s, the volume puts it at %s", a.TokenFile, want)
	}
	if a.AdminAddress != downward["status.podIP"] {
		t.Errorf("admin address %q: want the pod's IP, where the kubelet probes", a.AdminAddress)
	}
	// The CA file is the projected ClusterTrustBundle, mounted where the agent reads it.
	var ca *corev1.Volume
	for i := range out.Spec.Volumes {
		if out.Spec.Volumes[i].Name == CAVolumeName {
			ca = &out.Spec.Volumes[i]
		}
	}
	if ca == nil || ca.Projected == nil || len(ca.Projected.Sources) != 1 || ca.Projected.Sources[0].ClusterTrustBundle == nil {
		t.Fatalf("no projected ClusterTrustBundle volume %s: %+v", CAVolumeName, out.Spec.Volumes)
	}
	ctb := ca.Projected.Sources[0].ClusterTrustBundle
	if *ctb.Name != cfg.TrustBundle || !*ctb.Optional {
		t.Errorf("ClusterTrustBundle projection %+v: want %s, optional (the pod starts before it exists)", ctb, cfg.TrustBundle)
	}
	if !slices.ContainsFunc(agent.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == CAVolumeName && m.MountPath == agentv1.CADir && m.ReadOnly
	}) || a.CAFile != agentv1.CADir+"/"+ctb.Path {
		t.Errorf("the agent reads its CA from %s; mounts %+v put the bundle at %s/%s", a.CAFile, agent.VolumeMounts, agentv1.CADir, ctb.Path)
	}
	for _, e := range agent.Env {
		if strings.Contains(e.Value, "CERTIFICATE") {
			t.Errorf("env %s holds a CA bundle: it would be frozen at injection", e.Name)
		}
	}
	sc := agent.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("security context %+v is not restricted", sc)
	}
	if agent.ReadinessProbe.HTTPGet.Path != "/readyz" || agent.ReadinessProbe.HTTPGet.Port.IntVal != 9090 ||
		agent.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes %+v %+v, want /readyz and /healthz on the admin port", agent.ReadinessProbe, agent.LivenessProbe)
	}
	if !reflect.DeepEqual(agent.Resources, cfg.Resources) {
		t.Errorf("resources %v, want the template's %v", agent.Resources, cfg.Resources)
	}
	if len(agent.VolumeMounts) != 2 || agent.VolumeMounts[0].MountPath != agentv1.TokenDir || !agent.VolumeMounts[0].ReadOnly {
		t.Errorf("mounts %+v", agent.VolumeMounts)
	}
	if v := vol(out); v.Name != TokenVolumeName || v.Projected == nil || v.Projected.Sources[0].ServiceAccountToken.Audience != TokenAudience {
		t.Errorf("token volume %+v", v)
	}
	if out.Labels[LabelAgent] != "true" {
		t.Errorf("labels %v lack %s: \"true\", which a PodMonitor selects the agents by", out.Labels, LabelAgent)
	}
	var st Status
	if err := json.Unmarshal([]byte(out.Annotations[AnnotationStatus]), &st); err != nil {
		t.Fatalf("status annotation: %v", err)
	}
	want := Status{Container: ContainerName, Image: cfg.Image, Version: "v0.1.0", Volumes: []string{TokenVolumeName, CAVolumeName},
		FrontedContainer: "model", FrontedPort: 8000, PortName: "http", ListenPort: 9080, AdminPort: 9090, Protocol: "http"}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status %+v, want %+v", st, want)
	}
}

// vol is the pod's token volume.
func vol(pod *corev1.Pod) corev1.Volume {
	for _, v := range pod.Spec.Volumes {
		if v.Name == TokenVolumeName {
			return v
		}
	}
	return corev1.Volume{}
}

func TestInjectRewritesProbesThatUsedTheName(t *testing.T) {
	model := container("model", cport("http", 8000), cport("metrics", 9100))
	model.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}}}
	model.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}}
	model.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/m", Port: intstr.FromString("metrics")}}}
	model.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain", Port: intstr.FromString("http")}}}
	res, err := Inject(podOf(nil, model), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := res.Pod.Spec.Containers[0]
	if got := c.ReadinessProbe.HTTPGet.Port; got != intstr.FromInt32(8000) {
		t.Errorf("readiness port %v, want 8000", got.IntValue())
	}
	if got := c.LivenessProbe.TCPSocket.Port; got != intstr.FromInt32(8000) {
		t.Errorf("liveness port %v, want 8000", got.IntValue())
	}
	if got := c.Lifecycle.PreStop.HTTPGet.Port; got != intstr.FromInt32(8000) {
		t.Errorf("preStop port %v, want 8000", got.IntValue())
	}
	if got := c.StartupProbe.HTTPGet.Port; got != intstr.FromString("metrics") {
		t.Errorf("startup probe on another port changed to %v", got.IntValue())
	}
	if c.Ports[0].Name != "" || c.Ports[1].Name != "metrics" {
		t.Errorf("ports %+v: want only http unnamed", c.Ports)
	}
}

func TestInjectIsIdempotent(t *testing.T) {
	cfg := testConfig()
	first, err := Inject(podOf(nil, container("model", cport("http", 8000))), cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Inject(first.Pod, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !Injected(first.Pod) || Injected(podOf(nil, container("model", cport("http", 8000)))) {
		t.Error("Injected does not tell an injected pod from a plain one")
	}
	if !again.AlreadyInjected || again.Pod != nil {
		t.Fatalf("second injection: %+v, want already injected and no change", again)
	}
	if !reflect.DeepEqual(again.Status, first.Status) {
		t.Errorf("status %+v, want %+v", again.Status, first.Status)
	}
}

func TestInjectOverridesFromAnnotations(t *testing.T) {
	pod := podOf(map[string]string{
		AnnotationProtocol:           "grpc",
		AnnotationModelMetrics:       "vllm, tgi_queue_size",
		AnnotationModelMetricsPath:   "/stats/prometheus",
		AnnotationModelMetricsPort:   "9100",
		AnnotationModelReadyPath:     "/v1/health",
		AnnotationMaxConcurrency:     "8",
		AnnotationQueueSize:          "32",
		AnnotationSidecarCPU:         "200m",
		AnnotationSidecarCPULimit:    "1",
		AnnotationSidecarMemory:      "100Mi",
		AnnotationSidecarMemoryLimit: "300Mi",
		AnnotationAgentPort:          "7080",
		AnnotationAgentAdminPort:     "7090",
	}, container("model", cport("http", 8000), cport("metrics", 9100)))
	res, err := Inject(pod, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	agent := agentOf(t, res.Pod)
	a := mustStartAgent(t, res.Pod)
	if a.Protocol != "grpc" || a.ModelMetrics != "vllm,tgi_queue_size" || a.ModelMetricsPath != "/stats/prometheus" || a.ModelMetricsPort != 9100 ||
		a.ModelReadyPath != "/v1/health" || a.MaxConcurrency != 8 || a.QueueSize != 32 || a.ListenPort != 7080 || a.AdminPort != 7090 {
		t.Errorf("agent config %+v does not carry the overrides", a)
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("300Mi")},
	}
	if !reflect.DeepEqual(agent.Resources, want) {
		t.Errorf("resources %v, want %v", agent.Resources, want)
	}
	if agent.ReadinessProbe.HTTPGet.Port.IntVal != 7090 || res.Status.ListenPort != 7080 || res.Status.AdminPort != 7090 {
		t.Errorf("ports not overridden: probe %v, status %+v", agent.ReadinessProbe.HTTPGet.Port.IntValue(), res.Status)
	}
}

func TestInjectLeavesUnsafePodsAlone(t *testing.T) {
	withHostNetwork := podOf(nil, container("model", cport("http", 8000)))
	withHostNetwork.Spec.HostNetwork = true
	foreignAgent := podOf(nil, container("model", cport("http", 8000)), container(ContainerName))
	withVolume := podOf(nil, container("model", cport("http", 8000)))
	withVolume.Spec.Volumes = []corev1.Volume{{Name: TokenVolumeName}}
	sidecarWithName := podOf(nil, container("model", cport("http", 8000)))
	sidecarWithName.Spec.InitContainers = []corev1.Container{{Name: "mesh", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{cport("http", 15001)}}}
	brokenStatus := podOf(map[string]string{AnnotationStatus: "{"}, container("model", cport("http", 8000)))
	brokenStatus.Spec.InitContainers = []corev1.Container{{Name: ContainerName}}

	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no port", podOf(nil, container("model")), "no container declares a TCP port"},
		{"several ports, none named", podOf(nil, container("model", cport("a", 1000), cport("b", 2000))), "none is named http or grpc"},
		{"two containers both http", podOf(nil, container("a", cport("http", 8000)), container("b", cport("http", 8001))), "several containers have a port named http"},
		{"port conflict with the agent", podOf(nil, container("model", cport("http", 8000), cport("admin", 9090))), "already uses port 9090"},
		{"fronted port is the agent's", podOf(nil, container("model", cport("http", 9080))), "include the fronted port 9080"},
		{"existing container named inferscale-agent", foreignAgent, "inferscale did not inject"},
		{"unreadable status", brokenStatus, "unreadable"},
		{"host network", withHostNetwork, "host network"},
		{"volume name taken", withVolume, "volume named " + TokenVolumeName},
		{"sidecar already has the name", sidecarWithName, "init container mesh already has a port named http"},
		{"annotation names no port", podOf(map[string]string{AnnotationPort: "serve"}, container("model", cport("http", 8000))), "names no TCP port"},
		{"annotation port out of range", podOf(map[string]string{AnnotationPort: "70000"}, container("model", cport("http", 8000))), "not a port number"},
		{"bad protocol", podOf(map[string]string{AnnotationProtocol: "udp"}, container("model", cport("http", 8000))), "want http or grpc"},
		{"bad memory", podOf(map[string]string{AnnotationSidecarMemory: "lots"}, container("model", cport("http", 8000))), "sidecar-memory"},
		{"request over limit", podOf(map[string]string{AnnotationSidecarMemory: "1Gi"}, container("model", cport("http", 8000))), "exceeds its limit"},
		{"bad metrics path", podOf(map[string]string{AnnotationModelMetricsPath: "metrics"}, container("model", cport("http", 8000))), "absolute URL path"},
		{"bad model metrics", podOf(map[string]string{AnnotationModelMetrics: "a b;c"}, container("model", cport("http", 8000))), "model-metrics"},
		{"bad concurrency", podOf(map[string]string{AnnotationMaxConcurrency: "-1"}, container("model", cport("http", 8000))), "max-concurrency"},
		{"same agent ports", podOf(map[string]string{AnnotationAgentPort: "9090"}, container("model", cport("http", 8000))), AnnotationAgentPort + `="9090": the agent's --listen-port 9090: the same as --admin-port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Inject(tt.pod, testConfig())
			if err == nil {
				t.Fatalf("injected %+v, want it left alone", res.Status)
			}
			if !IsNotInjectable(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want a NotInjectableError containing %q", err, tt.want)
			}
			if res.Pod != nil {
				t.Error("returned a pod with the error")
			}
		})
	}
}

func TestConfigVersionAndValidate(t *testing.T) {
	for img, want := range map[string]string{
		"inferscale/inferscale-agent:v0.1.0":          "v0.1.0",
		"registry:5000/inferscale-agent":              "latest",
		"registry:5000/agent:v2":                      "v2",
		"inferscale/inferscale-agent@sha256:0123abcd": "sha256:0123abcd",
	} {
		c := Config{Image: img}
		if got := c.version(); got != want {
			t.Errorf("version of %s = %s, want %s", img, got, want)
		}
	}
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"no image":       func(c *Config) { c.Image = "" },
		"same ports":     func(c *Config) { c.AdminPort = c.ListenPort },
		"port range":     func(c *Config) { c.ListenPort = 0 },
		"root":           func(c *Config) { c.RunAsUser = 0 },
		"short token":    func(c *Config) { c.TokenExpirationSeconds = 60 },
		"bad scaler url": func(c *Config) { c.ScalerURL = "inferscale-scaler:8443" },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

func BenchmarkInject(b *testing.B) {
	model := container("model", cport("http", 8000), cport("metrics", 9100))
	model.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}}}
	pod := podOf(map[string]string{AnnotationModelMetrics: "vllm"}, model)
	cfg := testConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inject(pod, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzInject(f *testing.F) {
	seeds := []*corev1.Pod{
		podOf(nil, container("model", cport("http", 8000))),
		podOf(map[string]string{AnnotationPort: "9000", AnnotationSidecarCPU: "1"}, container("classifier", cport("http", 9000)), container(seldonExecutor, cport("http", 8000))),
		podOf(map[string]string{AnnotationStatus: `{"container":"inferscale-agent"}`}, container("model")),
	}
	for _, p := range seeds {
		raw, _ := json.Marshal(p)
		f.Add(raw)
	}
	f.Add([]byte(`{"spec":{"containers":[{"name":"m","ports":[{"containerPort":-1,"name":"http"}]}],"initContainers":[{"name":"inferscale-agent"}]}}`))
	cfg := testConfig()
	f.Fuzz(func(t *testing.T, raw []byte) {
		var pod corev1.Pod
		if json.Unmarshal(raw, &pod) != nil {
			return
		}
		res, err := Inject(&pod, cfg)
		if err != nil {
			if !IsNotInjectable(err) {
				t.Fatalf("error %v is not a NotInjectableError", err)
			}
			return
		}
		if res.Pod == nil {
			return
		}
		// Whatever went in, the agent starts and injecting the result again changes nothing.
		if _, err := startAgent(agentOf(t, res.Pod)); err != nil {
			t.Fatalf("injected an agent that will not start: %v", err)
		}
		again, err := Inject(res.Pod, cfg)
		if err != nil || !again.AlreadyInjected {
			t.Fatalf("reinjection: %+v, %v", again, err)
		}
	})
}

func TestBindFlags(t *testing.T) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindFlags(fs)
	err := fs.Parse([]string{"--agent-image=reg/agent:v9", "--agent-image-pull-policy=Never", "--agent-port=7000",
		"--agent-cpu=", "--agent-memory-limit=1Gi", "--scaler-url="})
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != "reg/agent:v9" || c.ImagePullPolicy != corev1.PullNever || c.ListenPort != 7000 || c.ScalerURL != "" {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		t.Error("--agent-cpu= kept a CPU request")
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "1Gi" {
		t.Errorf("memory limit %s, want 1Gi", q.String())
	}
	for _, bad := range [][]string{{"--agent-image-pull-policy=Sometimes"}, {"--agent-memory=lots"}, {"--agent-port=x"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c := DefaultConfig()
		c.BindFlags(fs)
		if err := fs.Parse(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestInjectEveryAnnotationAtAndBeyondItsLimits: at its limit an annotation reaches the agent,
// which starts; beyond it the pod is left alone and the reason names the annotation.
func TestInjectEveryAnnotationAtAndBeyondItsLimits(t *testing.T) {
	metrics := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, "m"+strconv.Itoa(i))
		}
		return strings.Join(s, ",")
	}
	path := func(n int) string { return "/" + strings.Repeat("p", n-1) }
	type check func(agentv1.Config, corev1.Container) bool
	quantity := func(get func(corev1.ResourceRequirements) resource.Quantity, want string) check {
		return func(_ agentv1.Config, c corev1.Container) bool { q := get(c.Resources); return q.String() == want }
	}
	cpuReq := func(r corev1.ResourceRequirements) resource.Quantity { return r.Requests[corev1.ResourceCPU] }
	cpuLim := func(r corev1.ResourceRequirements) resource.Quantity { return r.Limits[corev1.ResourceCPU] }
	memReq := func(r corev1.ResourceRequirements) resource.Quantity { return r.Requests[corev1.ResourceMemory] }
	memLim := func(r corev1.ResourceRequirements) resource.Quantity { return r.Limits[corev1.ResourceMemory] }
	for _, tc := range []struct {
		key     string
		atLimit string
		reached check
		beyond  []string
	}{
		{AnnotationPort, "65535", func(a agentv1.Config, _ corev1.Container) bool { return a.UpstreamPort == 65535 }, []string{"65536", "0", "-1"}},
		{AnnotationProtocol, "grpc", func(a agentv1.Config, _ corev1.Container) bool { return a.Protocol == "grpc" }, []string{"GRPC", "h2c"}},
		{AnnotationModelMetrics, metrics(agentv1.MaxModelMetrics), func(a agentv1.Config, _ corev1.Container) bool {
			n, _ := agentv1.ParseModelMetrics(a.ModelMetrics)
			return len(n) == agentv1.MaxModelMetrics
		}, []string{metrics(agentv1.MaxModelMetrics + 1), metrics(70), "vllm," + metrics(agentv1.MaxModelMetrics-2)}},
		{AnnotationModelMetrics, "vllm," + metrics(agentv1.MaxModelMetrics-3), func(a agentv1.Config, _ corev1.Container) bool {
			n, _ := agentv1.ParseModelMetrics(a.ModelMetrics)
			return len(n) == agentv1.MaxModelMetrics
		}, []string{"vllm,bad{name"}},
		{AnnotationModelMetrics, strings.Repeat("m", agentv1.MaxNameLen), func(a agentv1.Config, _ corev1.Container) bool { return len(a.ModelMetrics) == agentv1.MaxNameLen }, []string{strings.Repeat("m", agentv1.MaxNameLen+1), "a b", "a.b"}},
		{AnnotationModelMetricsPath, path(agentv1.MaxPathLen), func(a agentv1.Config, _ corev1.Container) bool { return a.ModelMetricsPath == path(agentv1.MaxPathLen) }, []string{path(agentv1.MaxPathLen + 1), "metrics", "", "/m?x=1"}},
		{AnnotationModelMetricsPort, "65535", func(a agentv1.Config, _ corev1.Container) bool { return a.ModelMetricsPort == 65535 }, []string{"65536", "-1", "x"}},
		{AnnotationModelReadyPath, path(agentv1.MaxPathLen), func(a agentv1.Config, _ corev1.Container) bool { return a.ModelReadyPath == path(agentv1.MaxPathLen) }, []string{path(agentv1.MaxPathLen + 1), "ready", "/r r"}},
		{AnnotationMaxConcurrency, strconv.Itoa(agentv1.MaxConcurrency), func(a agentv1.Config, _ corev1.Container) bool { return a.MaxConcurrency == agentv1.MaxConcurrency }, []string{strconv.Itoa(agentv1.MaxConcurrency + 1), "-1", "1e3", "99999999999"}},
		{AnnotationMaxConcurrency, "0", func(a agentv1.Config, _ corev1.Container) bool { return a.MaxConcurrency == 0 }, nil},
		{AnnotationQueueSize, strconv.Itoa(agentv1.MaxQueueSize), func(a agentv1.Config, _ corev1.Container) bool { return a.QueueSize == agentv1.MaxQueueSize }, []string{strconv.Itoa(agentv1.MaxQueueSize + 1), "-1"}},
		{AnnotationQueueSize, "0", func(a agentv1.Config, _ corev1.Container) bool { return a.QueueSize == 0 }, nil},
		{AnnotationForwardedHeaders, agentv1.ForwardedAppend, func(a agentv1.Config, _ corev1.Container) bool { return a.ForwardedHeaders == agentv1.ForwardedAppend }, []string{"trust", ""}},
		{AnnotationAgentPort, "65535", func(a agentv1.Config, _ corev1.Container) bool { return a.ListenPort == 65535 }, []string{"65536", "0", "9090", "8000"}},
		{AnnotationAgentAdminPort, "1", func(a agentv1.Config, _ corev1.Container) bool { return a.AdminPort == 1 }, []string{"0", "65536", "9080"}},
		{AnnotationSidecarCPU, "1m", quantity(cpuReq, "1m"), []string{"0", "-1", "lots"}},
		{AnnotationSidecarCPULimit, "50m", quantity(cpuLim, "50m"), []string{"49m", "0"}},
		{AnnotationSidecarMemory, "256Mi", quantity(memReq, "256Mi"), []string{"257Mi", "0"}},
		{AnnotationSidecarMemoryLimit, "64Mi", quantity(memLim, "64Mi"), []string{"63Mi", "x"}},
	} {
		model := container("model", cport("http", 8000))
		res, err := Inject(podOf(map[string]string{tc.key: tc.atLimit}, model), testConfig())
		if err != nil {
			t.Errorf("%s at its limit (%.40q): %v", tc.key, tc.atLimit, err)
		} else if a, err := startAgent(agentOf(t, res.Pod)); err != nil {
			t.Errorf("%s at its limit: the agent would not start: %v", tc.key, err)
		} else if !tc.reached(a, agentOf(t, res.Pod)) {
			t.Errorf("%s at its limit (%.40q) did not reach the agent", tc.key, tc.atLimit)
		}
		for _, v := range tc.beyond {
			res, err := Inject(podOf(map[string]string{tc.key: v}, model), testConfig())
			if err == nil {
				t.Errorf("%s=%.40q injected, want the pod left alone", tc.key, v)
				continue
			}
			if !IsNotInjectable(err) || res.Pod != nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%s=%.40q: %v, want a NotInjectableError naming the annotation", tc.key, v, err)
			}
		}
	}
}

// TestPolicyModelMetricsWithTheAnnotations: the agent scrapes the gauges of the workload's
// policies without the pod naming them; the annotation adds its names and presets, each once.
func TestPolicyModelMetricsWithTheAnnotations(t *testing.T) {
	cfg := testConfig()
	cfg.ModelMetrics = []string{"vllm:num_requests_waiting"}
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want string
	}{
		{"the policy's alone", map[string]string{AnnotationModelMetricsPath: "/metrics"}, "vllm:num_requests_waiting"},
		{"the annotation adds", map[string]string{AnnotationModelMetrics: "tgi_queue_size, vllm:num_requests_waiting"}, "vllm:num_requests_waiting,tgi_queue_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Inject(podOf(tc.ann, container("model", cport("http", 8000))), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a := mustStartAgent(t, res.Pod); a.ModelMetrics != tc.want {
				t.Errorf("agent scrapes %q, want %q", a.ModelMetrics, tc.want)
			}
		})
	}
	// Past what a report holds, the pod is admitted unchanged, never with an agent that fails.
	cfg.ModelMetrics = nil
	for i := range agentv1.MaxModelMetrics {
		cfg.ModelMetrics = append(cfg.ModelMetrics, "m"+strconv.Itoa(i))
	}
	if _, err := Inject(podOf(map[string]string{AnnotationModelMetrics: "one_more"}, container("model", cport("http", 8000))), cfg); !IsNotInjectable(err) {
		t.Errorf("policy and annotation past the limit: err = %v, want not injectable", err)
	}
}
