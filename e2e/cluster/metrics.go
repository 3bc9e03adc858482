package cluster

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/inferscale/inferscale/e2e/images"
)

//go:embed metrics-server.yaml
var metricsServerManifest string

// InstallMetricsServer runs metrics-server, pinned by e2e/tools/metrics-server, in kube-system
// and waits until the metrics.k8s.io API serves the node's metrics. A cluster that already
// serves metrics.k8s.io is left as it is.
func (c *Cluster) InstallMetricsServer(ctx context.Context) error {
	if ok, _ := c.nodeMetricsServed(ctx); ok {
		return nil
	}
	root, err := RepoRoot(ctx)
	if err != nil {
		return err
	}
	built, err := c.BuildImages(ctx, images.Spec{
		Name:      "metrics-server",
		GoPackage: "sigs.k8s.io/metrics-server/cmd/metrics-server",
		Dir:       filepath.Join(root, "e2e", "tools", "metrics-server"),
	})
	if err != nil {
		return fmt.Errorf("install metrics-server: %w", err)
	}
	var manifest bytes.Buffer
	tmpl := texttemplate.Must(texttemplate.New("metrics-server").Parse(metricsServerManifest))
	if err := tmpl.Execute(&manifest, struct{ Image string }{built[0].Ref}); err != nil {
		return fmt.Errorf("install metrics-server: render manifest: %w", err)
	}
	path := filepath.Join(os.TempDir(), "inferscale-metrics-server.yaml")
	if err := os.WriteFile(path, manifest.Bytes(), 0o644); err != nil {
		return fmt.Errorf("install metrics-server: %w", err)
	}
	defer os.Remove(path)
	if out, err := c.Kubectl(ctx, "apply", "-f", path); err != nil {
		return fmt.Errorf("install metrics-server: %w\n%s", err, out)
	}
	// The first CPU figure needs two scrapes, metric-resolution (10 s) apart; metrics-server
	// wants its kubelet request timeout below that.
	if err := c.poll(ctx, 2*time.Minute, "metrics.k8s.io serving node metrics", c.nodeMetricsServed); err != nil {
		pods, _ := c.Kubectl(ctx, "-n", "kube-system", "describe", "pods", "-l", "k8s-app=metrics-server")
		apiService, _ := c.Kubectl(ctx, "get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "yaml")
		logs, _ := c.Kubectl(ctx, "-n", "kube-system", "logs", "deploy/metrics-server", "--tail=40")
		return fmt.Errorf("install metrics-server: %w\n%s\n%s\n%s", err, pods, apiService, logs)
	}
	return nil
}

func (c *Cluster) nodeMetricsServed(ctx context.Context) (bool, error) {
	raw, err := c.Client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	if err != nil {
		return false, err
	}
	// An empty list means metrics-server runs but has not scraped twice yet.
	return strings.Contains(string(raw), `"usage"`), nil
}
