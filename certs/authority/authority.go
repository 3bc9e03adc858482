// Package authority creates a certificate authority and the serving certificates
// it signs, and decides when either must be replaced. It is pure: the caller passes
// the current time, so rotation decisions are testable without waiting, and nothing
// here talks to Kubernetes.
package authority

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

const (
	// DefaultCAValidity is how long a generated CA is valid. Long, because replacing
	// it changes every trust bundle handed out (webhook caBundle, agents' bundle).
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultServingValidity is how long a generated serving certificate is valid.
	DefaultServingValidity = 365 * 24 * time.Hour

	// backdate moves NotBefore into the past so that a client or API server whose
	// clock lags the issuing pod's does not reject a freshly issued certificate.
	backdate = 5 * time.Minute
)

// KeyPair is a parsed certificate with its private key and their PEM encodings.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA generates a self-signed ECDSA P-256 CA valid for validity from now.
func NewCA(now time.Time, commonName string, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("CA validity must be positive, got %s", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		// Only serving certificates sit below this CA.
		MaxPathLenZero: true,
		KeyUsage:       x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue signs a serving certificate for dnsNames (the first is also the common
// name) with a fresh ECDSA P-256 key. It never outlives the CA, since a chain is
// only as valid as its shortest-lived link.
func (ca *KeyPair) Issue(now time.Time, dnsNames []string, validity time.Duration) (*KeyPair, error) {
	if len(dnsNames) == 0 {
		return nil, errors.New("serving certificate needs at least one DNS name")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("serving certificate validity must be positive, got %s", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     slices.Clone(dnsNames),
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*KeyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate %q just signed: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding key of %q: %w", tmpl.Subject.CommonName, err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return serial, nil
}

// Parse decodes a PEM certificate and key and checks that they belong together.
// Only the first certificate of certPEM is the leaf; any others are ignored.
func Parse(certPEM, keyPEM []byte) (*KeyPair, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate and key: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", pair.PrivateKey)
	}
	return &KeyPair{Cert: pair.Leaf, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ServiceDNSNames are the names a client may use to reach a Service in-cluster.
// The API server calls webhooks at <svc>.<ns>.svc.
func ServiceDNSNames(service, namespace string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}

// NeedsRenewal reports whether a serving certificate must be replaced, and why:
// unparsable or a key that does not match, not signed by ca, DNS names other than
// dnsNames, or less than a third of its lifetime left at now. A certificate that is
// not valid yet is kept: replicas' clocks differ, and replacing a peer's fresh
// certificate because of skew would make them fight.
func NeedsRenewal(now time.Time, certPEM, keyPEM []byte, ca *x509.Certificate, dnsNames []string) (string, bool) {
	kp, err := Parse(certPEM, keyPEM)
	if err != nil {
		return err.Error(), true
	}
	if err := kp.Cert.CheckSignatureFrom(ca); err != nil {
		return "not signed by the current CA: " + err.Error(), true
	}
	if !sameNames(kp.Cert.DNSNames, dnsNames) {
		return fmt.Sprintf("DNS names %v, want %v", kp.Cert.DNSNames, dnsNames), true
	}
	if reason, ok := expiring(now, kp.Cert); ok {
		return reason, true
	}
	return "", false
}

// CANeedsRenewal reports whether the CA must be replaced, and why: unparsable, not
// a CA, or less than a third of its lifetime left at now.
func CANeedsRenewal(now time.Time, certPEM, keyPEM []byte) (string, bool) {
	kp, err := ParseCA(certPEM, keyPEM)
	if err != nil {
		return err.Error(), true
	}
	return expiring(now, kp.Cert)
}

// ParseCA is Parse for a CA: the certificate must be one that may sign certificates.
func ParseCA(certPEM, keyPEM []byte) (*KeyPair, error) {
	kp, err := Parse(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if !kp.Cert.IsCA || !kp.Cert.BasicConstraintsValid || kp.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("certificate is not a CA")
	}
	return kp, nil
}

// expiring is true once less than a third of the lifetime is left: early enough
// that a missed check or two, or a kubelet slow to refresh, never lets it lapse.
func expiring(now time.Time, cert *x509.Certificate) (string, bool) {
	left := cert.NotAfter.Sub(now)
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	if left < lifetime/3 {
		return fmt.Sprintf("expires at %s, less than a third of its lifetime %s left", cert.NotAfter.UTC().Format(time.RFC3339), lifetime), true
	}
	return "", false
}

func sameNames(got, want []string) bool {
	a, b := slices.Clone(got), slices.Clone(want)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// TrustBundle is the PEM bundle clients should trust: the current CA first, then
// the previous CAs that are still valid at now. Keeping the previous ones lets
// serving certificates signed by the old CA keep working until every replica has
// picked up one signed by the new CA.
func TrustBundle(now time.Time, current *x509.Certificate, previous []*x509.Certificate) []byte {
	var out bytes.Buffer
	seen := [][]byte{current.Raw}
	_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: current.Raw})
	for _, c := range previous {
		if now.After(c.NotAfter) || slices.ContainsFunc(seen, func(raw []byte) bool { return bytes.Equal(raw, c.Raw) }) {
			continue
		}
		seen = append(seen, c.Raw)
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.Bytes()
}

// ParseBundle returns the certificates of a PEM bundle, skipping blocks that are not
// parsable certificates: a damaged bundle must not stop the CA from being repaired.
func ParseBundle(bundle []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
