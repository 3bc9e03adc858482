package cluster

import (
	"bytes"
	"fmt"
	"os"
	"text/template"
)

// Network layout. The node address sits on the loopback link (see addNodeAddress), so that all
// traffic stays on this machine and never uses its external interface.
const (
	nodeName    = "inferscale-e2e"
	nodeIP      = "10.89.0.1"
	podCIDR     = "10.88.0.0/16"
	serviceCIDR = "10.96.0.0/16"
	// serviceIP is the first address of serviceCIDR: the kubernetes Service.
	serviceIP     = "10.96.0.1"
	apiserverPort = 6443
	etcdPort      = 12379
	etcdPeerPort  = 12380
	// cniBinDir is where Debian's containernetworking-plugins installs the plugins.
	cniBinDir = "/usr/lib/cni"
	// pauseImageName names the pod sandbox image, built by the harness and imported before the
	// kubelet starts.
	pauseImageName = "pause"
)

// configValues fills the templates below.
type configValues struct {
	WorkDir, PKIDir, CNIConfDir, ContainerdSocket, PauseImage string
	NodeName, NodeIP, PodCIDR, Kubeconfig                     string
}

var containerdConfig = template.Must(template.New("containerd").Parse(`version = 2
root = "{{.WorkDir}}/containerd/root"
state = "{{.WorkDir}}/containerd/state"

[grpc]
  address = "{{.ContainerdSocket}}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.WorkDir}}/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  # Required here: without CAP_SYS_RESOURCE every sandbox fails in runc create otherwise.
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{.WorkDir}}/containerd/runc"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "` + cniBinDir + `"
    conf_dir = "{{.CNIConfDir}}"
`))

var cniConfig = template.Must(template.New("cni").Parse(`{
  "cniVersion": "0.4.0",
  "name": "inferscale-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "` + bridgeName + `",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.WorkDir}}/cni/ipam",
        "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`))

var kubeletConfig = template.Must(template.New("kubelet").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.NodeIP}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {{.PKIDir}}/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
# This machine runs cgroup v1, which the kubelet otherwise refuses.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{{.ContainerdSocket}}
# Images are imported, never pulled: garbage collecting one would break the next pod using it.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
clusterDomain: cluster.local
clusterDNS: [{{.NodeIP}}]
podLogsDir: {{.WorkDir}}/kubelet/pod-logs
volumePluginDir: {{.WorkDir}}/kubelet/volume-plugins
serializeImagePulls: false
`))

var kubeProxyConfig = template.Must(template.New("kube-proxy").Parse(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {{.Kubeconfig}}
mode: iptables
clusterCIDR: {{.PodCIDR}}
hostnameOverride: {{.NodeName}}
bindAddress: {{.NodeIP}}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Zero leaves the host's conntrack settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`))

func writeTemplate(path string, tmpl *template.Template, values configValues) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, values); err != nil {
		return fmt.Errorf("render %s: %w", tmpl.Name(), err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s config: %w", tmpl.Name(), err)
	}
	return nil
}
