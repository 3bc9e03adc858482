// Package install builds inferscale's images and installs inferscale on a
// cluster as a user does: from manifests/ with `kubectl apply -k` (the demo), or
// the chart charts/inferscale with `helm install` (the e2e tests).
package install

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/inferscale/inferscale/e2e/cluster"
	"github.com/inferscale/inferscale/e2e/images"
)

// Version is the tag of the images the manifests name.
const Version = "v0.1.0"

// Namespace is where inferscale runs.
const Namespace = "inferscale-system"

// Image references, as manifests/ names them.
var (
	WebhookImage = "inferscale/inferscale-webhook:" + Version
	ScalerImage  = "inferscale/inferscale-scaler:" + Version
	AgentImage   = "inferscale/inferscale-agent:" + Version
)

const module = "github.com/inferscale/inferscale"

// Specs are the images of inferscale's three in-cluster binaries. The agent
// links NVML through cgo, so its image carries its shared libraries.
func Specs(root string) []images.Spec {
	ldflags := "-X " + module + "/internal/version.Version=" + Version
	return []images.Spec{
		{Name: "inferscale-webhook", Ref: WebhookImage, GoPackage: module + "/cmd/inferscale-webhook", Dir: root, LDFlags: ldflags, User: "65532:65532"},
		{Name: "inferscale-scaler", Ref: ScalerImage, GoPackage: module + "/cmd/inferscale-scaler", Dir: root, LDFlags: ldflags, User: "65532:65532"},
		{Name: "inferscale-agent", Ref: AgentImage, GoPackage: module + "/cmd/inferscale-agent", Dir: root, LDFlags: ldflags, User: "65532:65532", CGO: true},
	}
}

// Install builds and loads the images, applies overlay (a directory under
// manifests/, e.g. "default") with kubectl apply -k, and waits until the
// webhook and the scaler are available and the webhook answers admission.
func Install(ctx context.Context, c *cluster.Cluster, overlay string) error {
	root, err := cluster.RepoRoot(ctx)
	if err != nil {
		return err
	}
	if _, err := c.BuildImages(ctx, Specs(root)...); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	dir := filepath.Join(root, "manifests", overlay)
	// The CRD must be established before the webhook configuration that
	// names it is useful; a second apply settles objects that raced it.
	var out []byte
	for attempt := 0; attempt < 3; attempt++ {
		if out, err = c.Kubectl(ctx, "apply", "-k", dir); err == nil {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return fmt.Errorf("install %s: %w: %s", dir, err, out)
	}
	for _, d := range []string{"inferscale-webhook", "inferscale-scaler"} {
		if out, err := c.Kubectl(ctx, "-n", Namespace, "rollout", "status", "deployment/"+d, "--timeout=180s"); err != nil {
			return fmt.Errorf("install: %s did not become available: %w: %s", d, err, out)
		}
	}
	return waitAdmission(ctx, c)
}

// Chart builds and loads the images and installs charts/inferscale as README.md tells a
// user to: the namespace created and labelled for the restricted Pod Security profile,
// then `helm install --wait`, and waits until the webhook answers admission. values are
// more helm flags, e.g. --set.
func Chart(ctx context.Context, c *cluster.Cluster, values ...string) error {
	root, err := cluster.RepoRoot(ctx)
	if err != nil {
		return err
	}
	if _, err := c.BuildImages(ctx, Specs(root)...); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for _, args := range [][]string{
		{"create", "namespace", Namespace},
		{"label", "namespace", Namespace, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest"},
	} {
		if out, err := c.Kubectl(ctx, args...); err != nil {
			return fmt.Errorf("install: %w: %s", err, out)
		}
	}
	args := append([]string{"install", Release, filepath.Join(root, "charts", "inferscale"), "--namespace", Namespace, "--wait", "--timeout", "5m"}, values...)
	if out, err := Helm(ctx, c, args...); err != nil {
		return fmt.Errorf("install: %w: %s", err, out)
	}
	return waitAdmission(ctx, c)
}

// Release is the name of the Helm release Chart installs.
const Release = "inferscale"

// Helm runs helm against the cluster: the binary `make tools` builds from hack/tools
// (built first if missing), with its cache and config in a directory of its own.
func Helm(ctx context.Context, c *cluster.Cluster, args ...string) ([]byte, error) {
	root, err := cluster.RepoRoot(ctx)
	if err != nil {
		return nil, err
	}
	helm := filepath.Join(root, "bin", "tools", "helm")
	if _, err := os.Stat(helm); err != nil {
		if out, err := exec.CommandContext(ctx, "make", "-C", root, helm).CombinedOutput(); err != nil {
			return out, fmt.Errorf("build helm: %w", err)
		}
	}
	home, err := os.MkdirTemp("", "inferscale-helm-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, helm, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// probePolicy passes the CRD schema but not the webhook's validation (the
// target's name is no DNS name), so only an answering webhook refuses it by
// field path.
const probePolicy = `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: install-probe, namespace: default}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: Not_A_DNS_Name}
  maxReplicas: 2
  metrics: [{type: QueueDepth, queueDepth: {averageValue: 1}}]
`

// waitAdmission waits until the validating webhook refuses the probe policy,
// which proves its certificate is trusted and its endpoints are ready.
func waitAdmission(ctx context.Context, c *cluster.Cluster) error {
	f, err := os.CreateTemp("", "inferscale-probe-*.yaml")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(probePolicy); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	f.Close()
	var out []byte
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, _ = c.Kubectl(ctx, "create", "--dry-run=server", "-f", f.Name())
		if strings.Contains(string(out), "spec.targetRef.name") {
			return nil
		}
	}
	return fmt.Errorf("install: the webhook never answered admission; last answer: %s", out)
}
