package authority

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const year = 365 * 24 * time.Hour

func mustCA(t *testing.T, now time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	ca, err := NewCA(now, "inferscale-ca", validity)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *KeyPair, now time.Time, names []string, validity time.Duration) *KeyPair {
	t.Helper()
	kp, err := ca.Issue(now, names, validity)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return kp
}

func TestIssuedCertificateVerifiesForEveryServiceName(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	names := ServiceDNSNames("inferscale-webhook", "inferscale-system")
	kp := mustIssue(t, ca, t0, names, DefaultServingValidity)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range names {
		if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: t0}); err != nil {
			t.Errorf("verify for %q: %v", name, err)
		}
	}
	if got, want := kp.Cert.NotAfter, t0.Add(DefaultServingValidity); !got.Equal(want) {
		t.Errorf("NotAfter = %s, want %s", got, want)
	}
	if _, err := Parse(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Errorf("Parse of issued pair: %v", err)
	}
}

func TestIssueNeverOutlivesTheCA(t *testing.T) {
	ca := mustCA(t, t0, 30*24*time.Hour)
	kp := mustIssue(t, ca, t0, []string{"svc"}, year)
	if !kp.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %s, want the CA's %s", kp.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	if _, err := ca.Issue(t0, nil, year); err == nil {
		t.Error("Issue without DNS names: want error")
	}
	if _, err := ca.Issue(t0, []string{"svc"}, 0); err == nil {
		t.Error("Issue with zero validity: want error")
	}
	if _, err := NewCA(t0, "ca", -time.Second); err == nil {
		t.Error("NewCA with negative validity: want error")
	}
}

func TestNeedsRenewal(t *testing.T) {
	names := ServiceDNSNames("inferscale-webhook", "inferscale-system")
	ca := mustCA(t, t0, DefaultCAValidity)
	otherCA := mustCA(t, t0, DefaultCAValidity)
	good := mustIssue(t, ca, t0, names, year)
	foreign := mustIssue(t, otherCA, t0, names, year)
	fewerNames := mustIssue(t, ca, t0, names[:2], year)
	// Its lifetime is a year plus the backdate; a third of that is left a little
	// after two thirds of a year.
	lifetime := year + backdate

	tests := []struct {
		name    string
		now     time.Time
		cert    []byte
		key     []byte
		names   []string
		want    bool
		because string
	}{
		{name: "fresh", now: t0, cert: good.CertPEM, key: good.KeyPEM, names: names},
		{name: "names in another order", now: t0, cert: good.CertPEM, key: good.KeyPEM, names: []string{names[3], names[1], names[2], names[0]}},
		{name: "just over a third left", now: t0.Add(-backdate).Add(lifetime*2/3 - time.Minute), cert: good.CertPEM, key: good.KeyPEM, names: names},
		{name: "not valid yet is kept (peer clock ahead)", now: t0.Add(-time.Hour), cert: good.CertPEM, key: good.KeyPEM, names: names},
		{name: "under a third left", now: t0.Add(-backdate).Add(lifetime*2/3 + time.Minute), cert: good.CertPEM, key: good.KeyPEM, names: names, want: true, because: "lifetime"},
		{name: "expired", now: t0.Add(2 * year), cert: good.CertPEM, key: good.KeyPEM, names: names, want: true, because: "lifetime"},
		{name: "signed by another CA", now: t0, cert: foreign.CertPEM, key: foreign.KeyPEM, names: names, want: true, because: "not signed by the current CA"},
		{name: "names differ", now: t0, cert: fewerNames.CertPEM, key: fewerNames.KeyPEM, names: names, want: true, because: "DNS names"},
		{name: "key of another certificate", now: t0, cert: good.CertPEM, key: foreign.KeyPEM, names: names, want: true, because: "parsing"},
		{name: "garbage", now: t0, cert: []byte("not a certificate"), key: good.KeyPEM, names: names, want: true, because: "parsing"},
		{name: "missing", now: t0, names: names, want: true, because: "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, got := NeedsRenewal(tt.now, tt.cert, tt.key, ca.Cert, tt.names)
			if got != tt.want {
				t.Fatalf("NeedsRenewal = %v (%q), want %v", got, reason, tt.want)
			}
			if !strings.Contains(reason, tt.because) {
				t.Errorf("reason %q does not mention %q", reason, tt.because)
			}
		})
	}
}

func TestCANeedsRenewal(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	leaf := mustIssue(t, ca, t0, []string{"svc"}, year)
	lifetime := DefaultCAValidity + backdate

	tests := []struct {
		name    string
		now     time.Time
		cert    []byte
		key     []byte
		want    bool
		because string
	}{
		{name: "fresh", now: t0, cert: ca.CertPEM, key: ca.KeyPEM},
		{name: "six years on", now: t0.Add(6 * year), cert: ca.CertPEM, key: ca.KeyPEM},
		{name: "under a third left", now: t0.Add(-backdate).Add(lifetime*2/3 + time.Hour), cert: ca.CertPEM, key: ca.KeyPEM, want: true, because: "lifetime"},
		{name: "a leaf is no CA", now: t0, cert: leaf.CertPEM, key: leaf.KeyPEM, want: true, because: "not a CA"},
		{name: "key mismatch", now: t0, cert: ca.CertPEM, key: leaf.KeyPEM, want: true, because: "parsing"},
		{name: "empty", now: t0, want: true, because: "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, got := CANeedsRenewal(tt.now, tt.cert, tt.key)
			if got != tt.want {
				t.Fatalf("CANeedsRenewal = %v (%q), want %v", got, reason, tt.want)
			}
			if !strings.Contains(reason, tt.because) {
				t.Errorf("reason %q does not mention %q", reason, tt.because)
			}
		})
	}
}

func TestTrustBundle(t *testing.T) {
	oldCA := mustCA(t, t0, 2*year)
	newCA := mustCA(t, t0.Add(year), DefaultCAValidity)
	expiredCA := mustCA(t, t0, 30*24*time.Hour)
	now := t0.Add(year + time.Hour)

	tests := []struct {
		name     string
		previous []*x509.Certificate
		want     []*x509.Certificate
	}{
		{name: "only the current", want: []*x509.Certificate{newCA.Cert}},
		{name: "current first, then a valid previous", previous: []*x509.Certificate{oldCA.Cert}, want: []*x509.Certificate{newCA.Cert, oldCA.Cert}},
		{name: "expired previous dropped", previous: []*x509.Certificate{expiredCA.Cert, oldCA.Cert}, want: []*x509.Certificate{newCA.Cert, oldCA.Cert}},
		{name: "duplicates dropped", previous: []*x509.Certificate{newCA.Cert, oldCA.Cert, oldCA.Cert}, want: []*x509.Certificate{newCA.Cert, oldCA.Cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseBundle(TrustBundle(now, newCA.Cert, tt.previous))
			if len(got) != len(tt.want) {
				t.Fatalf("bundle has %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d is %q serial %s, want serial %s", i, got[i].Subject.CommonName, got[i].SerialNumber, tt.want[i].SerialNumber)
				}
			}
		})
	}
}

func TestParseBundleSkipsDamage(t *testing.T) {
	ca := mustCA(t, t0, DefaultCAValidity)
	bundle := append([]byte("junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), ca.CertPEM...)
	bundle = append(bundle, ca.KeyPEM...)
	got := ParseBundle(bundle)
	if len(got) != 1 || !got[0].Equal(ca.Cert) {
		t.Fatalf("ParseBundle = %d certificates, want only the CA", len(got))
	}
}

func TestServiceDNSNames(t *testing.T) {
	got := strings.Join(ServiceDNSNames("inferscale-scaler", "inferscale-system"), ",")
	want := "inferscale-scaler,inferscale-scaler.inferscale-system,inferscale-scaler.inferscale-system.svc,inferscale-scaler.inferscale-system.svc.cluster.local"
	if got != want {
		t.Errorf("ServiceDNSNames = %s, want %s", got, want)
	}
}
