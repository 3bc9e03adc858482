// Package apiservertest finds the etcd and kube-apiserver binaries that
// controller-runtime's envtest starts, for tests that need a real API server
// rather than a fake client.
package apiservertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Assets returns a directory holding etcd and kube-apiserver for envtest:
// $KUBEBUILDER_ASSETS, or the kube-apiserver `make e2e-tools` builds next to
// the etcd on PATH (Debian's etcd-server, which the e2e needs too). It skips
// the test, saying what to install, where neither exists.
func Assets(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no API server binaries: %v", err)
	}
	apiservers, _ := filepath.Glob(filepath.Join(cache, "inferscale", "k8s", "*", "kube-apiserver"))
	etcd, err := exec.LookPath("etcd")
	if len(apiservers) == 0 || err != nil {
		t.Skip("no API server binaries: run `make e2e-tools` and install etcd-server, or set KUBEBUILDER_ASSETS")
	}
	dir := t.TempDir()
	for name, target := range map[string]string{"kube-apiserver": apiservers[len(apiservers)-1], "etcd": etcd} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// StartTimeout bounds each start of etcd and kube-apiserver. envtest's 20 s
// default is too short on a loaded two-core machine, where a cold
// kube-apiserver can take most of a minute to serve.
const StartTimeout = 2 * time.Minute

// Start runs an API server (etcd and kube-apiserver from Assets) with the CRDs
// of crdDirs installed, until the test ends.
func Start(t testing.TB, crdDirs ...string) *rest.Config {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    Assets(t),
		CRDDirectoryPaths:        crdDirs,
		ControlPlaneStartTimeout: StartTimeout,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}
