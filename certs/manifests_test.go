package certs

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/inferscale/inferscale/certs/authority"
)

// The cert-manager variant must write the Secrets the binaries and the self-managed
// mode use, for the same names, or switching modes breaks TLS.
func TestCertManagerCertificatesMatchSelfManaged(t *testing.T) {
	raw, err := os.ReadFile("../manifests/cert-manager/certificates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Options{WebhookSecret: WebhookOptions(), ScalerSecret: ScalerOptions()}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var cert struct {
			Kind string
			Spec struct {
				SecretName string   `json:"secretName"`
				DNSNames   []string `json:"dnsNames"`
				IssuerRef  struct{ Name string }
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &cert); err != nil {
			t.Fatalf("certificates.yaml: %v", err)
		}
		opts, ok := want[cert.Spec.SecretName]
		if cert.Kind != "Certificate" || !ok {
			t.Errorf("unexpected %s with secretName %q", cert.Kind, cert.Spec.SecretName)
			continue
		}
		delete(want, cert.Spec.SecretName)
		if names := authority.ServiceDNSNames(opts.Service, opts.Namespace); !slices.Equal(cert.Spec.DNSNames, names) {
			t.Errorf("%s: dnsNames %v, want %v", cert.Spec.SecretName, cert.Spec.DNSNames, names)
		}
		if cert.Spec.IssuerRef.Name != opts.CASecret {
			t.Errorf("%s: issued by %q, want the CA Issuer %q", cert.Spec.SecretName, cert.Spec.IssuerRef.Name, opts.CASecret)
		}
	}
	for name := range want {
		t.Errorf("no Certificate writes %s", name)
	}
}
