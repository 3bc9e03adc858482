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

// Each binary's CA is a Certificate of its own that keeps its key on renewal (so a
// client holding the CA certificate from before a renewal still trusts what is issued
// after it), behind an Issuer of the same name.
func TestCertManagerCAsAreSeparateAndKeepTheirKeys(t *testing.T) {
	raw, err := os.ReadFile("../manifests/cert-manager/issuers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cas, issuers := map[string]bool{}, map[string]string{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct {
				IsCA       bool   `json:"isCA"`
				SecretName string `json:"secretName"`
				PrivateKey struct {
					RotationPolicy string `json:"rotationPolicy"`
				} `json:"privateKey"`
				CA *struct {
					SecretName string `json:"secretName"`
				} `json:"ca"`
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("issuers.yaml: %v", err)
		}
		switch {
		case obj.Kind == "Certificate" && obj.Spec.IsCA:
			cas[obj.Spec.SecretName] = obj.Spec.PrivateKey.RotationPolicy == "Never"
		case obj.Kind == "Issuer" && obj.Spec.CA != nil:
			issuers[obj.Metadata.Name] = obj.Spec.CA.SecretName
		}
	}
	for _, name := range []string{WebhookCASecret, ScalerCASecret} {
		keeps, ok := cas[name]
		if !ok {
			t.Errorf("no CA Certificate writes %s", name)
		} else if !keeps {
			t.Errorf("CA %s: privateKey.rotationPolicy is not Never", name)
		}
		if issuers[name] != name {
			t.Errorf("Issuer %s signs with Secret %q, want %s", name, issuers[name], name)
		}
	}
}
