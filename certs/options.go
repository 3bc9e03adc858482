package certs

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"

	"github.com/inferscale/inferscale/certs/authority"
)

// Certificate modes, the values of --cert-mode.
const (
	// ModeSelfManaged: the binary creates and rotates its certificates with a Manager.
	ModeSelfManaged = "self-managed"
	// ModeCertManager: cert-manager issues the Secrets and cainjector fills the
	// caBundle; the binary only serves what is mounted at the cert dir.
	ModeCertManager = "cert-manager"
)

// Fixed names shared with the manifests and cert-manager's Certificates.
const (
	// Namespace is the install namespace of the manifests, the default of --namespace
	// where the pod's own (NamespaceEnv) is not known.
	Namespace = "inferscale-system"
	// NamespaceEnv names the pod's namespace, set from the downward API by the manifests.
	NamespaceEnv = "POD_NAMESPACE"

	// Each binary has a CA of its own: one that could sign the webhook's certificate is
	// never readable by the scaler, and the other way round.
	WebhookCASecret = "inferscale-webhook-ca"
	ScalerCASecret  = "inferscale-scaler-ca"
	WebhookSecret   = "inferscale-webhook-tls"
	ScalerSecret    = "inferscale-scaler-tls"
	// ScalerTrustBundle is the ClusterTrustBundle the scaler publishes its report
	// endpoint's trust bundle in; agents' pods project it.
	ScalerTrustBundle = "inferscale-scaler-ca"
	WebhookService    = "inferscale-webhook"
	ScalerService     = "inferscale-scaler"
	MutatingWebhook   = "inferscale-injector"
	ValidatingHook    = "inferscale-validator"
	DefaultCertDir    = "/etc/inferscale/tls"

	// Keys of every Secret, the same as cert-manager writes, so both modes mount alike.
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
	CAKey   = "ca.crt"
	// The staged successor of a CA Secret's signing CA (see authority.Authority).
	NextCertKey = "next.crt"
	NextKeyKey  = "next.key"

	// AnnotationRotateCA on a CA Secret asks for a new CA now (it is staged, then signs
	// after the overlap); the binary removes the annotation once the new CA is staged.
	AnnotationRotateCA = "inferscale.io/rotate-ca"

	defaultSyncInterval = time.Minute
)

// Options configure a Manager. The zero values of the optional fields get the
// defaults noted on each.
type Options struct {
	// Mode is ModeSelfManaged or ModeCertManager. A Manager is only for self-managed.
	Mode string
	// Namespace of the Secrets and the Service: the one inferscale runs in. Default
	// InstallNamespace().
	Namespace string
	// CASecret holds the signing CA (tls.crt, tls.key), a staged successor (next.crt,
	// next.key) and the trust bundle (ca.crt). Required.
	CASecret string
	// CACommonName of a generated CA. Default CASecret.
	CACommonName string
	// ServingSecret receives this binary's serving certificate (tls.crt, tls.key, ca.crt).
	ServingSecret string
	// Service whose in-cluster DNS names the serving certificate covers.
	Service string
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations get the trust
	// bundle as caBundle on every one of their webhooks.
	MutatingWebhookConfigurations   []string
	ValidatingWebhookConfigurations []string
	// CertDir receives tls.crt, tls.key and ca.crt, replaced atomically, for the
	// serving code's certwatcher. Empty: no files are written.
	CertDir string
	// Validity of serving certificates. Default one year.
	Validity time.Duration
	// CAValidity of a generated CA. Default ten years.
	CAValidity time.Duration
	// CAOverlap: a new CA is trusted this long before it signs, and its predecessor this
	// long after. Default authority.DefaultOverlap.
	CAOverlap time.Duration
	// SyncInterval between checks of Start's loop. Default one minute.
	SyncInterval time.Duration
	// Clock drives validity and the loop. Default the real clock.
	Clock clock.WithTicker
	// Log receives rotations and errors of the loop. Default controller-runtime's "certs" logger.
	Log logr.Logger
}

// WebhookOptions are the Options of inferscale-webhook: its Secret, Service and both
// webhook configurations.
func WebhookOptions() Options {
	return Options{
		Mode:                            ModeSelfManaged,
		Namespace:                       InstallNamespace(),
		CASecret:                        WebhookCASecret,
		ServingSecret:                   WebhookSecret,
		Service:                         WebhookService,
		MutatingWebhookConfigurations:   []string{MutatingWebhook},
		ValidatingWebhookConfigurations: []string{ValidatingHook},
		CertDir:                         DefaultCertDir,
		Validity:                        authority.DefaultServingValidity,
		CAOverlap:                       authority.DefaultOverlap,
		SyncInterval:                    defaultSyncInterval,
	}
}

// ScalerOptions are the Options of inferscale-scaler's report endpoint.
func ScalerOptions() Options {
	return Options{
		Mode:          ModeSelfManaged,
		Namespace:     InstallNamespace(),
		CASecret:      ScalerCASecret,
		ServingSecret: ScalerSecret,
		Service:       ScalerService,
		CertDir:       DefaultCertDir,
		Validity:      authority.DefaultServingValidity,
		CAOverlap:     authority.DefaultOverlap,
		SyncInterval:  defaultSyncInterval,
	}
}

// InstallNamespace is the namespace this binary runs in: $POD_NAMESPACE, else Namespace.
func InstallNamespace() string {
	if ns := os.Getenv(NamespaceEnv); ns != "" {
		return ns
	}
	return Namespace
}

// BindFlags registers --namespace, --cert-mode, --cert-dir, --cert-validity, --ca-overlap and
// --cert-sync-interval, with the current values as defaults, so every binary spells
// them alike (the cert-manager manifests patch --cert-mode).
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.Func("namespace", "namespace inferscale runs in: its Secrets, Services and Lease (default $"+NamespaceEnv+", else "+Namespace+")", func(v string) error {
		if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
			return fmt.Errorf("%q is no namespace name: %s", v, strings.Join(errs, "; "))
		}
		o.Namespace = v
		return nil
	})
	fs.StringVar(&o.Mode, "cert-mode", o.Mode, "serving certificates: "+ModeSelfManaged+" (create, rotate and publish them) or "+ModeCertManager+" (serve what is mounted)")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, "directory of tls.crt, tls.key and ca.crt; written in "+ModeSelfManaged+" mode, read in both")
	fs.DurationVar(&o.Validity, "cert-validity", o.Validity, "validity of self-managed serving certificates; they are renewed when a third is left")
	fs.DurationVar(&o.CAOverlap, "ca-overlap", o.CAOverlap, "self-managed CA rotation: a new CA is trusted this long before it signs, and the old one this long after; longer than a trust bundle takes to reach every client")
	fs.DurationVar(&o.SyncInterval, "cert-sync-interval", o.SyncInterval, "how often self-managed certificates are checked, renewed and re-synced to the cert dir")
}

// SelfManaged reports whether the binary must run a Manager.
func (o Options) SelfManaged() bool { return o.Mode == ModeSelfManaged }

// withDefaults fills the defaults and checks the options a Manager needs.
func (o Options) withDefaults() (Options, error) {
	if o.Mode != "" && o.Mode != ModeSelfManaged && o.Mode != ModeCertManager {
		return o, fmt.Errorf("cert mode %q: want %s or %s", o.Mode, ModeSelfManaged, ModeCertManager)
	}
	if o.Namespace == "" {
		o.Namespace = InstallNamespace()
	}
	if o.CACommonName == "" {
		o.CACommonName = o.CASecret
	}
	if o.Validity == 0 {
		o.Validity = authority.DefaultServingValidity
	}
	if o.CAValidity == 0 {
		o.CAValidity = authority.DefaultCAValidity
	}
	if o.CAOverlap == 0 {
		o.CAOverlap = authority.DefaultOverlap
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = defaultSyncInterval
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	var errs []error
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
	}
	if o.CASecret == "" {
		errs = append(errs, errors.New("CA secret name is empty"))
	}
	if o.ServingSecret == "" {
		errs = append(errs, errors.New("serving secret name is empty"))
	}
	if o.ServingSecret == o.CASecret {
		errs = append(errs, fmt.Errorf("serving secret %q must differ from the CA secret", o.ServingSecret))
	}
	if o.Service == "" {
		errs = append(errs, errors.New("service name is empty"))
	}
	if o.Validity < 0 {
		errs = append(errs, fmt.Errorf("cert validity %s is negative", o.Validity))
	}
	if o.Validity > o.CAValidity {
		errs = append(errs, fmt.Errorf("cert validity %s exceeds the CA validity %s", o.Validity, o.CAValidity))
	}
	if o.CAOverlap < 0 || o.CAOverlap > o.CAValidity/3 {
		errs = append(errs, fmt.Errorf("CA overlap %s: want 0..%s (a third of the CA validity)", o.CAOverlap, o.CAValidity/3))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("cert sync interval %s is negative", o.SyncInterval))
	}
	return o, errors.Join(errs...)
}
