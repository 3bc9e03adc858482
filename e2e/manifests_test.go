//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOverlaysApplyServerSide dry-runs every install overlay against the real
// API server, as `kubectl apply -k` would apply it, so a manifest the API
// server refuses (a bad field, a missing CRD, RBAC a role cannot grant) fails
// here rather than on a user's cluster.
func TestOverlaysApplyServerSide(t *testing.T) {
	requireInferscale(t) // the namespace must exist: a dry run creates nothing
	installCertManagerCRDs(t)
	for _, overlay := range []string{"default", "cert-manager"} {
		t.Run(overlay, func(t *testing.T) {
			out := kubectl(t, "apply", "--dry-run=server", "-k", repoPath(t, "manifests/"+overlay))
			for _, want := range []string{"mutatingwebhookconfiguration.admissionregistration.k8s.io/inferscale-injector", "deployment.apps/inferscale-scaler"} {
				if !strings.Contains(out, want) {
					t.Errorf("the dry run did not include %s:\n%s", want, out)
				}
			}
			if overlay == "cert-manager" && !strings.Contains(out, "certificate.cert-manager.io/inferscale-webhook") {
				t.Errorf("the cert-manager overlay has no webhook Certificate:\n%s", out)
			}
		})
	}
}

// installCertManagerCRDs applies the CRDs of the cert-manager release pinned
// in e2e/tools/cert-manager, fetched through the Go module proxy.
func installCertManagerCRDs(t *testing.T) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "go", "mod", "download", "-json", "github.com/cert-manager/cert-manager")
	cmd.Dir = repoPath(t, "e2e/tools/cert-manager")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("download cert-manager: %v", err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("download cert-manager: %s %v", out, err)
	}
	kubectl(t, "apply", "--server-side", "-f", filepath.Join(mod.Dir, "deploy", "crds"))
	kubectl(t, "wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io", "--timeout=60s")
}
