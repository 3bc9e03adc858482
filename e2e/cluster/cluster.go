// Package cluster brings up a real single-node Kubernetes cluster on this machine for the e2e
// tests and the demo: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd,
// kubelet and kube-proxy as local processes, with a PKI, ports, containerd socket and CNI
// configuration of its own, and tears it down leaving the machine as it found it.
//
// When INFERSCALE_E2E_KUBECONFIG names a kubeconfig, Up uses that cluster instead and Down
// leaves it alone.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	texttemplate "text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/inferscale/inferscale/e2e/images"
)

// Environment variables that change what Up does.
const (
	// EnvKubeconfig names an existing cluster to test against instead of bringing one up.
	EnvKubeconfig = "INFERSCALE_E2E_KUBECONFIG"
	// EnvImageLoad is, for an existing cluster, the command that loads an image tarball into
	// it; the tarball's path is appended. Example: "kind load image-archive".
	EnvImageLoad = "INFERSCALE_E2E_IMAGE_LOAD"
)

// DefaultWorkDir holds a run's state. It is fixed, not random, so that a run finds and removes
// what a crashed earlier run left.
const DefaultWorkDir = "/var/lib/inferscale-e2e"

// Options configure Up.
type Options struct {
	// WorkDir holds the PKI, configuration, data and logs of the run; DefaultWorkDir if empty.
	// It is removed by Down.
	WorkDir string
	// BinDir holds the Kubernetes binaries; if empty, BuildTools builds (or finds) them.
	BinDir string
	// LogsDir, if set, receives a copy of the component logs on Down.
	LogsDir string
	// Log receives progress lines and, when Up fails, the component logs; os.Stderr if nil.
	Log io.Writer
}

// Cluster is a running cluster.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// BinDir holds the Kubernetes binaries, kubectl among them.
	BinDir string

	external  bool
	opts      Options
	log       io.Writer
	state     *hostState
	lock      *runLock
	dns       *serviceDNS
	downDone  atomic.Bool
	leftovers []string // what teardown left, checked before the run lock was let go
	// mu guards components, dns and stopping: a signal may start Down while Up still starts
	// components.
	mu               sync.Mutex
	components       []*component
	stopping         bool
	containerdSocket string
	stopSignals      func()
	downOnce         sync.Once
	downErr          error
}

// Up brings a cluster up and waits until its node is Ready and every component is healthy.
// On failure it prints the component logs, tears down what it started, and returns the error.
// SIGINT, SIGTERM and SIGHUP tear the cluster down before the process exits.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Log
	if log == nil {
		log = os.Stderr
	}
	if kubeconfig := os.Getenv(EnvKubeconfig); kubeconfig != "" {
		return useExisting(ctx, kubeconfig, opts, log)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("bring up cluster: must run as root (it runs containerd and the kubelet); or set " + EnvKubeconfig + " to test against an existing cluster")
	}
	if err := checkHostTools(); err != nil {
		return nil, err
	}
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = BuildTools(ctx, log); err != nil {
			return nil, err
		}
	}
	workDir := opts.WorkDir
	if workDir == "" {
		workDir = DefaultWorkDir
	}
	lock, err := acquireRunLock(ctx, workDir+".lock", log)
	if err != nil {
		return nil, err
	}
	state, err := prepareWorkDir(workDir, binDir, log)
	if err != nil {
		return nil, errors.Join(err, lock.release())
	}

	c := &Cluster{
		BinDir:           binDir,
		Kubeconfig:       filepath.Join(workDir, "admin.kubeconfig"),
		opts:             opts,
		log:              log,
		state:            state,
		lock:             lock,
		containerdSocket: filepath.Join(workDir, "containerd", "containerd.sock"),
	}
	c.stopSignals = c.downOnSignal()
	start := time.Now()
	if err := c.bringUp(ctx); err != nil {
		fmt.Fprintf(log, "cluster: bring-up failed: %v\n", err)
		c.DumpLogs(log, 60)
		if downErr := c.Down(context.Background()); downErr != nil {
			err = errors.Join(err, downErr)
		}
		return nil, err
	}
	fmt.Fprintf(log, "cluster: up in %s (kubeconfig %s)\n", time.Since(start).Round(100*time.Millisecond), c.Kubeconfig)
	return c, nil
}

// External reports whether the cluster is an existing one that Up did not start.
func (c *Cluster) External() bool { return c.external }

func useExisting(ctx context.Context, kubeconfig string, opts Options, log io.Writer) (*Cluster, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = BuildTools(ctx, log, "kubectl"); err != nil {
			return nil, err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("use cluster of %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("use cluster of %s: %w", kubeconfig, err)
	}
	c := &Cluster{Kubeconfig: kubeconfig, Config: cfg, Client: client, BinDir: binDir, external: true, opts: opts, log: log}
	if err := c.poll(ctx, time.Minute, "apiserver ready", c.apiserverReady); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "cluster: using the existing cluster of %s\n", kubeconfig)
	return c, nil
}

// requiredHostTools are the programs the harness runs, with the Debian package of each; every
// one of those packages is in hack/install-deps.sh, which `make demo` and `make test` run.
var requiredHostTools = map[string]string{
	"etcd":                    "etcd-server",
	"containerd":              "containerd",
	"containerd-shim-runc-v2": "containerd",
	"ctr":                     "containerd",
	"runc":                    "runc",
	"iptables":                "iptables",
	"ip":                      "iproute2",
	cniBinDir + "/bridge":     "containernetworking-plugins",
}

func checkHostTools() error {
	var missing, pkgs []string
	for tool, pkg := range requiredHostTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", tool, pkg))
			pkgs = append(pkgs, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(pkgs)
	return fmt.Errorf("bring up cluster: missing host tools: %s; as root on Debian, run hack/install-deps.sh "+
		"(make demo and make test do), or: apt-get install %s", strings.Join(missing, ", "), strings.Join(slices.Compact(pkgs), " "))
}

// prepareWorkDir cleans up after an earlier run that did not tear down, creates the work
// directory and records the host's state in it.
func prepareWorkDir(workDir, binDir string, log io.Writer) (*hostState, error) {
	if err := cleanEarlierRun(workDir, binDir, log); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(workDir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	state := snapshotHost(workDir, binDir)
	if err := state.save(); err != nil {
		return nil, err
	}
	return state, nil
}

// cleanEarlierRun removes what a run that did not tear down left behind.
func cleanEarlierRun(workDir, binDir string, log io.Writer) error {
	if _, err := os.Stat(workDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	fmt.Fprintf(log, "cluster: %s exists: cleaning up after an earlier run\n", workDir)
	state, err := loadHostState(workDir)
	if err != nil {
		// Without the earlier snapshot, what exists now is the best guess of the host's own.
		fmt.Fprintf(log, "cluster: %v; cleaning with a fresh snapshot\n", err)
		state = snapshotHost(workDir, binDir)
	}
	if state.BinDir == "" {
		state.BinDir = binDir
	}
	if err := state.cleanHost(binDir); err != nil {
		return fmt.Errorf("clean up earlier run: %w", err)
	}
	return nil
}

func (c *Cluster) downOnSignal() (stop func()) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			fmt.Fprintf(c.log, "cluster: %v: tearing down\n", sig)
			if err := c.Down(context.Background()); err != nil {
				fmt.Fprintf(c.log, "cluster: teardown: %v\n", err)
			}
			os.Exit(1)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(signals)
		close(done)
	}
}

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.state.WorkDir}, parts...)...)
}

func (c *Cluster) start(name, bin string, args ...string) error {
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(c.BinDir, bin)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return fmt.Errorf("start %s: the cluster is being torn down", name)
	}
	comp, err := startComponent(c.path("logs"), name, bin, args...)
	if err != nil {
		return err
	}
	c.components = append(c.components, comp)
	return nil
}

// started returns the components started so far, in start order.
func (c *Cluster) started() []*component {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.components)
}

func (c *Cluster) bringUp(ctx context.Context) error {
	for _, dir := range []string{"pki", "etcd", "containerd", "cni/net.d", "cni/ipam", "kubelet/root", "apiserver", "controller-manager", "scheduler", "images"} {
		if err := os.MkdirAll(c.path(dir), 0o755); err != nil {
			return fmt.Errorf("create %s dir: %w", dir, err)
		}
	}
	pause, err := images.Build(ctx, images.Spec{Name: pauseImageName, GoPackage: "github.com/inferscale/inferscale/e2e/images/pause", OutDir: c.path("images")})
	if err != nil {
		return fmt.Errorf("build pause image: %w", err)
	}
	p, err := newPKI(c.path("pki"), nodeName, net.ParseIP(nodeIP), net.ParseIP(serviceIP))
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://%s:%d", nodeIP, apiserverPort)
	kubeconfigs := map[string]string{}
	for identity := range p.clients {
		path := c.path(identity + ".kubeconfig")
		if err := writeKubeconfig(path, server, p, identity); err != nil {
			return err
		}
		kubeconfigs[identity] = path
	}
	c.Kubeconfig = kubeconfigs[identityAdmin]
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}

	if err := addNodeAddress(); err != nil {
		return err
	}
	// Pods reach the node and Services only with forwarding on; teardown restores the old value.
	if err := writeSysctl("net.ipv4.ip_forward", "1"); err != nil {
		return err
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if err := c.start("etcd", "/usr/bin/etcd", "--name=e2e", "--logger=zap", "--data-dir="+c.path("etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL); err != nil {
		return err
	}
	if err := c.poll(ctx, 30*time.Second, "etcd healthy", httpOK(etcdURL+"/health")); err != nil {
		return err
	}

	if err := c.start("kube-apiserver", "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+nodeIP, "--advertise-address="+nodeIP, "--secure-port="+strconv.Itoa(apiserverPort),
		"--cert-dir="+c.path("apiserver"),
		"--tls-cert-file="+p.path("apiserver.crt"), "--tls-private-key-file="+p.path("apiserver.key"),
		"--client-ca-file="+p.path("ca.crt"),
		"--service-cluster-ip-range="+serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.path("sa.pub"), "--service-account-signing-key-file="+p.path("sa.key"),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--kubelet-client-certificate="+p.path(identityAPIServerKubelet+".crt"),
		"--kubelet-client-key="+p.path(identityAPIServerKubelet+".key"),
		// The node's name resolves nowhere; its InternalIP is the address on lo.
		"--kubelet-preferred-address-types=InternalIP",
		"--requestheader-client-ca-file="+p.path("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+p.path("front-proxy-client.crt"),
		"--proxy-client-key-file="+p.path("front-proxy-client.key"),
		// Aggregated APIs are reached at their pod address: no dependency on kube-proxy's rules.
		"--enable-aggregator-routing=true",
		"--profiling=false"); err != nil {
		return err
	}
	if err := c.poll(ctx, 90*time.Second, "kube-apiserver ready", c.apiserverReady); err != nil {
		return err
	}

	if err := c.start("kube-controller-manager", "kube-controller-manager",
		"--kubeconfig="+kubeconfigs[identityControllerManager],
		"--authentication-kubeconfig="+kubeconfigs[identityControllerManager],
		"--authorization-kubeconfig="+kubeconfigs[identityControllerManager],
		"--bind-address=127.0.0.1", "--secure-port=10257", "--cert-dir="+c.path("controller-manager"),
		// It creates this directory, by default under /usr/libexec.
		"--flex-volume-plugin-dir="+c.path("controller-manager", "flex-volume"),
		"--controllers=*", "--use-service-account-credentials=true",
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--cluster-signing-cert-file="+p.path("ca.crt"), "--cluster-signing-key-file="+p.path("ca.key"),
		"--leader-elect=false"); err != nil {
		return err
	}
	if err := c.start("kube-scheduler", "kube-scheduler",
		"--kubeconfig="+kubeconfigs[identityScheduler],
		"--authentication-kubeconfig="+kubeconfigs[identityScheduler],
		"--authorization-kubeconfig="+kubeconfigs[identityScheduler],
		"--bind-address=127.0.0.1", "--secure-port=10259", "--cert-dir="+c.path("scheduler"),
		"--leader-elect=false"); err != nil {
		return err
	}

	// Pods resolve Service names through the node address, as through kube-dns.
	dns, err := startServiceDNS(context.Background(), c.Client, nodeIP)
	if err != nil {
		return err
	}
	c.mu.Lock()
	stopping := c.stopping
	if !stopping {
		c.dns = dns
	}
	c.mu.Unlock()
	if stopping {
		dns.close()
		return errors.New("start cluster DNS: the cluster is being torn down")
	}

	values := configValues{
		WorkDir: c.state.WorkDir, PKIDir: p.dir, CNIConfDir: c.path("cni", "net.d"),
		ContainerdSocket: c.containerdSocket, PauseImage: pause.Ref,
		NodeName: nodeName, NodeIP: nodeIP, PodCIDR: podCIDR, Kubeconfig: kubeconfigs[identityKubeProxy],
	}
	for path, tmpl := range map[string]*texttemplate.Template{
		c.path("containerd", "config.toml"):              containerdConfig,
		c.path("cni", "net.d", "10-inferscale.conflist"): cniConfig,
		c.path("kubelet", "config.yaml"):                 kubeletConfig,
		c.path("kube-proxy.yaml"):                        kubeProxyConfig,
	} {
		if err := writeTemplate(path, tmpl, values); err != nil {
			return err
		}
	}
	if err := c.start("containerd", "/usr/bin/containerd", "--config="+c.path("containerd", "config.toml")); err != nil {
		return err
	}
	if err := c.poll(ctx, 30*time.Second, "containerd serving", c.containerdServing(ctx)); err != nil {
		return err
	}
	if err := c.importImage(ctx, pause.Tarball); err != nil {
		return err
	}

	if err := c.start("kubelet", "kubelet",
		"--config="+c.path("kubelet", "config.yaml"),
		"--kubeconfig="+kubeconfigs[identityKubelet],
		"--root-dir="+c.path("kubelet", "root"),
		// Its serving certificate; the default is under /var/lib/kubelet, not the root dir.
		"--cert-dir="+c.path("kubelet", "pki"),
		"--hostname-override="+nodeName, "--node-ip="+nodeIP); err != nil {
		return err
	}
	if err := c.start("kube-proxy", "kube-proxy", "--config="+c.path("kube-proxy.yaml")); err != nil {
		return err
	}

	checks := []struct {
		what  string
		ready func(context.Context) (bool, error)
	}{
		{"kube-controller-manager healthy", httpOK("https://127.0.0.1:10257/healthz")},
		{"kube-scheduler healthy", httpOK("https://127.0.0.1:10259/healthz")},
		{"kubelet healthy", httpOK("http://127.0.0.1:10248/healthz")},
		{"kube-proxy healthy", httpOK("http://127.0.0.1:10256/healthz")},
		{"node Ready and untainted", c.nodeReady},
		{"default service account", c.defaultServiceAccount},
	}
	for _, check := range checks {
		if err := c.poll(ctx, 90*time.Second, check.what, check.ready); err != nil {
			return err
		}
	}
	return nil
}

func writeKubeconfig(path, server string, p *pki, identity string) error {
	kp := p.clients[identity]
	keyPEM, err := kp.keyPEM()
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.ca.certPEM()}
	cfg.AuthInfos[identity] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.certPEM(), ClientKeyData: keyPEM}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: identity}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write %s kubeconfig: %w", identity, err)
	}
	return nil
}

// addNodeAddress puts the node's address on the loopback link: a local address of the
// harness's own, reachable from the pods (unlike 127.0.0.1) and never on the machine's
// external interface. (A dummy link would do too, but not every kernel has that driver.)
func addNodeAddress() error {
	if out, err := exec.Command("ip", "addr", "add", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("add node address %s to lo: %w: %s", nodeIP, err, out)
	}
	return nil
}

// poll calls ready every 250ms until it reports true, the timeout passes, or a component
// exits, whichever comes first.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, what string, ready func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		for _, comp := range c.started() {
			if done, err := comp.exited(); done {
				return fmt.Errorf("wait for %s: %s exited: %v (log: %s)", what, comp.name, err, comp.logPath)
			}
		}
		ok, err := ready(ctx)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// httpOK checks that url answers 200. The components' health endpoints serve self-signed
// certificates on loopback, so the check does not verify them.
func httpOK(url string) func(context.Context) (bool, error) {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return true, nil
	}
}

func (c *Cluster) apiserverReady(ctx context.Context) (bool, error) {
	_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil, err
}

func (c *Cluster) containerdServing(ctx context.Context) func(context.Context) (bool, error) {
	return func(context.Context) (bool, error) {
		out, err := c.ctr(ctx, "version")
		if err != nil {
			return false, fmt.Errorf("%w: %s", err, out)
		}
		return true, nil
	}
}

func (c *Cluster) nodeReady(ctx context.Context) (bool, error) {
	node, err := c.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	// The node lifecycle controller lifts the not-ready taint shortly after Ready; until then
	// nothing schedules.
	if len(node.Spec.Taints) > 0 {
		return false, fmt.Errorf("node tainted: %v", node.Spec.Taints)
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return true, nil
			}
			return false, fmt.Errorf("node not ready: %s", cond.Message)
		}
	}
	return false, errors.New("node has no Ready condition yet")
}

func (c *Cluster) defaultServiceAccount(ctx context.Context) (bool, error) {
	_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	return err == nil, err
}

func (c *Cluster) ctr(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "ctr", append([]string{"--address", c.containerdSocket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
}

func (c *Cluster) importImage(ctx context.Context, tarball string) error {
	if out, err := c.ctr(ctx, "images", "import", tarball); err != nil {
		return fmt.Errorf("import image %s: %w: %s", tarball, err, out)
	}
	return nil
}

// LoadImage makes img available to the cluster's pods (with imagePullPolicy: Never). An
// existing cluster needs EnvImageLoad to say how.
func (c *Cluster) LoadImage(ctx context.Context, img images.Image) error {
	if !c.external {
		return c.importImage(ctx, img.Tarball)
	}
	load := strings.Fields(os.Getenv(EnvImageLoad))
	if len(load) == 0 {
		return fmt.Errorf("load image %s: set %s to the command that loads an image tarball into the cluster of %s, e.g. \"kind load image-archive\"", img.Ref, EnvImageLoad, c.Kubeconfig)
	}
	cmd := exec.CommandContext(ctx, load[0], append(load[1:], img.Tarball)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("load image %s with %s: %w: %s", img.Ref, EnvImageLoad, err, out)
	}
	return nil
}

// BuildImages builds each spec's image and loads it into the cluster. A spec without OutDir
// gets its tarball written to a temporary directory that is removed once the image is loaded
// (so the returned Tarball no longer exists); set OutDir to keep it.
func (c *Cluster) BuildImages(ctx context.Context, specs ...images.Spec) ([]images.Image, error) {
	var built []images.Image
	for _, spec := range specs {
		start := time.Now()
		img, err := c.buildAndLoad(ctx, spec)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c.log, "cluster: image %s built and loaded in %s\n", img.Ref, time.Since(start).Round(100*time.Millisecond))
		built = append(built, img)
	}
	return built, nil
}

func (c *Cluster) buildAndLoad(ctx context.Context, spec images.Spec) (images.Image, error) {
	if spec.OutDir == "" {
		tmp, err := os.MkdirTemp("", "inferscale-image-")
		if err != nil {
			return images.Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
		}
		defer os.RemoveAll(tmp)
		spec.OutDir = tmp
	}
	img, err := images.Build(ctx, spec)
	if err != nil {
		return images.Image{}, err
	}
	return img, c.LoadImage(ctx, img)
}

// Kubectl runs the pinned kubectl against the cluster and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// DumpLogs writes the last lines of every component's log to w.
func (c *Cluster) DumpLogs(w io.Writer, lines int) {
	for _, comp := range c.started() {
		data, err := os.ReadFile(comp.logPath)
		if err != nil {
			fmt.Fprintf(w, "===== %s: %v\n", comp.name, err)
			continue
		}
		all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(w, "===== %s (last %d lines of %s)\n%s\n", comp.name, len(all), comp.logPath, strings.Join(all, "\n"))
	}
}

// Down deletes the pods, stops the components and removes every trace of the run from the
// machine. It is safe to call more than once; an existing cluster is left alone.
func (c *Cluster) Down(ctx context.Context) error {
	if c.external {
		return nil
	}
	c.downOnce.Do(func() {
		c.downErr = c.down(ctx)
		c.downDone.Store(true)
	})
	return c.downErr
}

func (c *Cluster) down(ctx context.Context) error {
	start := time.Now()
	c.stopSignals()
	c.mu.Lock()
	c.stopping = true
	dns := c.dns
	components := slices.Clone(c.components)
	c.mu.Unlock()
	// Stop resolving before the API server goes: its informer would only log errors.
	if dns != nil {
		dns.close()
	}
	var errs []error
	byName := map[string]*component{}
	for _, comp := range components {
		byName[comp.name] = comp
	}
	// Pods first, while the kubelet runs, so that it stops their sandboxes and the CNI plugins
	// release addresses and rules; with the controllers stopped nothing recreates them.
	if kubelet := byName["kubelet"]; kubelet != nil && c.Client != nil {
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			if comp := byName[name]; comp != nil {
				errs = append(errs, comp.stop(5*time.Second))
			}
		}
		if err := c.deleteAllPods(ctx); err != nil {
			fmt.Fprintf(c.log, "cluster: deleting pods before teardown: %v (cleaning up by force)\n", err)
		}
	}
	// Then the node, then the control plane, each given a moment to exit cleanly.
	for i := len(components) - 1; i >= 0; i-- {
		errs = append(errs, components[i].stop(5*time.Second))
	}
	if c.opts.LogsDir != "" {
		errs = append(errs, c.copyLogs(c.opts.LogsDir))
	}
	errs = append(errs, c.state.cleanHost(c.BinDir))
	// Checked while the lock is held: the next run, waiting for it, recreates the work
	// directory as soon as it is released.
	c.leftovers = c.state.leftovers()
	if len(c.leftovers) > 0 {
		errs = append(errs, fmt.Errorf("teardown left: %s", strings.Join(c.leftovers, "; ")))
	}
	errs = append(errs, c.lock.release())
	err := errors.Join(errs...)
	if err == nil {
		fmt.Fprintf(c.log, "cluster: down and clean in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	return err
}

func (c *Cluster) deleteAllPods(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	namespaces, err := c.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	grace := int64(1)
	for _, ns := range namespaces.Items {
		err := c.Client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pods of %s: %w", ns.Name, err)
		}
	}
	// A pod leaves the API once the kubelet has stopped it; its sandbox's netns goes with it.
	for {
		pods, err := c.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 && len(c.state.newNetns()) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for pods to stop: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Cluster) copyLogs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("copy logs: %w", err)
	}
	for _, comp := range c.started() {
		data, err := os.ReadFile(comp.logPath)
		if err != nil {
			return fmt.Errorf("copy logs: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, comp.name+".log"), data, 0o644); err != nil {
			return fmt.Errorf("copy logs: %w", err)
		}
	}
	return nil
}

// Leftovers lists what of the run is still on the machine: processes, mounts, network
// namespaces and links, iptables chains, cgroups, sysctls and paths. Empty after a clean
// Down; always empty for an existing cluster.
func (c *Cluster) Leftovers() []string {
	if c.external {
		return nil
	}
	if c.downDone.Load() {
		return c.leftovers
	}
	return c.state.leftovers()
}
