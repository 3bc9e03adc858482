//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/e2e/install"
	"github.com/inferscale/inferscale/webhook/inject"
)

// The shared install is the Helm chart's release, deployed, owning the webhook and the
// scaler; the webhook found its namespace through the downward API and hands the agents
// the scaler of that namespace.
func TestChartReleaseIsTheInstall(t *testing.T) {
	requireInferscale(t)
	out, err := install.Helm(t.Context(), testCluster, "status", install.Release, "--namespace", install.Namespace, "-o", "json")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var status struct{ Info struct{ Status string } }
	if err := json.Unmarshal(out, &status); err != nil || status.Info.Status != "deployed" {
		t.Fatalf("helm status: %q (%v), want deployed:\n%s", status.Info.Status, err, out)
	}
	for _, name := range []string{"inferscale-webhook", "inferscale-scaler"} {
		d, err := testCluster.Client.AppsV1().Deployments(install.Namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Annotations["meta.helm.sh/release-name"]; got != install.Release {
			t.Errorf("%s: release-name annotation %q, want %q", name, got, install.Release)
		}
	}
	logs := kubectl(t, "-n", install.Namespace, "logs", "deployment/inferscale-webhook", "--tail=-1")
	if want := `"scalerURL":"` + inject.ScalerURL(install.Namespace) + `"`; !strings.Contains(logs, want) {
		t.Errorf("the webhook's start log has no %s:\n%s", want, logs)
	}
}

// The chart's cert-manager mode is accepted by the real API server (with cert-manager's
// CRDs), as TestOverlaysApplyServerSide checks manifests/cert-manager.
func TestChartCertManagerModeAppliesServerSide(t *testing.T) {
	requireInferscale(t)
	installCertManagerCRDs(t)
	out, err := install.Helm(t.Context(), testCluster, "template", install.Release, repoPath(t, "charts/inferscale"),
		"--namespace", install.Namespace, "--set", "certificates.mode=cert-manager")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	rendered := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(rendered, out, 0o600); err != nil {
		t.Fatal(err)
	}
	applied := kubectl(t, "apply", "--dry-run=server", "-f", rendered)
	for _, want := range []string{"certificate.cert-manager.io/inferscale-webhook", "issuer.cert-manager.io/inferscale-webhook-ca", "issuer.cert-manager.io/inferscale-scaler-ca", "deployment.apps/inferscale-scaler"} {
		if !strings.Contains(applied, want) {
			t.Errorf("the dry run did not include %s:\n%s", want, applied)
		}
	}
}
