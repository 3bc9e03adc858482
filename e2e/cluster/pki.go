package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity outlives any test run; the PKI is thrown away with the cluster.
const certValidity = 7 * 24 * time.Hour

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type certRequest struct {
	commonName   string
	organization []string
	dnsNames     []string
	ips          []net.IP
	usage        []x509.ExtKeyUsage
}

func newCA(commonName string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key %s: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("sign CA %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA %s: %w", commonName, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}

func (ca *keyPair) issue(req certRequest) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key %s: %w", req.commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.commonName, Organization: req.organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  req.usage,
		DNSNames:     req.dnsNames,
		IPAddresses:  req.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", req.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", req.commonName, err)
	}
	return &keyPair{cert: cert, key: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a zero serial would still be valid here.
		return big.NewInt(1)
	}
	return n
}

func (kp *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.cert.Raw})
}

func (kp *keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("marshal key of %s: %w", kp.cert.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// write stores the pair as <dir>/<name>.crt and <dir>/<name>.key.
func (kp *keyPair) write(dir, name string) error {
	keyPEM, err := kp.keyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM(), 0o644); err != nil {
		return fmt.Errorf("write %s certificate: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write %s key: %w", name, err)
	}
	return nil
}

// pki is the cluster's certificate material, as files under dir.
type pki struct {
	dir string
	ca  *keyPair
	// clients holds the client certificate of each component and of the admin user.
	clients map[string]*keyPair
}

// Names of the client identities in pki.clients.
const (
	identityAdmin             = "admin"
	identityControllerManager = "kube-controller-manager"
	identityScheduler         = "kube-scheduler"
	identityKubelet           = "kubelet"
	identityKubeProxy         = "kube-proxy"
	identityAPIServerKubelet  = "apiserver-kubelet-client"
)

func newPKI(dir string, nodeName string, nodeIP, serviceIP net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	ca, err := newCA("inferscale-e2e-ca")
	if err != nil {
		return nil, err
	}
	if err := ca.write(dir, "ca"); err != nil {
		return nil, err
	}
	serving, err := ca.issue(certRequest{
		commonName: "kube-apiserver",
		dnsNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:        []net.IP{nodeIP, serviceIP, net.IPv4(127, 0, 0, 1)},
		usage:      []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	if err := serving.write(dir, "apiserver"); err != nil {
		return nil, err
	}

	clientUsage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	requests := map[string]certRequest{
		identityAdmin:             {commonName: "inferscale-e2e-admin", organization: []string{"system:masters"}},
		identityControllerManager: {commonName: "system:kube-controller-manager"},
		identityScheduler:         {commonName: "system:kube-scheduler"},
		identityKubelet:           {commonName: "system:node:" + nodeName, organization: []string{"system:nodes"}},
		identityKubeProxy:         {commonName: "system:kube-proxy"},
		identityAPIServerKubelet:  {commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}},
	}
	p := &pki{dir: dir, ca: ca, clients: map[string]*keyPair{}}
	for name, req := range requests {
		req.usage = clientUsage
		kp, err := ca.issue(req)
		if err != nil {
			return nil, err
		}
		if err := kp.write(dir, name); err != nil {
			return nil, err
		}
		p.clients[name] = kp
	}

	// The aggregation layer (metrics-server, any APIService) authenticates the apiserver's
	// proxied requests with a front-proxy CA of its own.
	frontCA, err := newCA("inferscale-e2e-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	if err := frontCA.write(dir, "front-proxy-ca"); err != nil {
		return nil, err
	}
	frontClient, err := frontCA.issue(certRequest{commonName: "front-proxy-client", usage: clientUsage})
	if err != nil {
		return nil, err
	}
	if err := frontClient.write(dir, "front-proxy-client"); err != nil {
		return nil, err
	}

	// Service-account tokens are signed with a key of their own, as in kubeadm's layout.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, fmt.Errorf("marshal service-account key: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return nil, fmt.Errorf("write service-account key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}), 0o644); err != nil {
		return nil, fmt.Errorf("write service-account public key: %w", err)
	}
	return p, nil
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }
