// Package certs bootstraps and rotates self-managed serving certificates: a CA and
// a serving certificate in Secrets, the caBundle of the webhook configurations, and
// the files the serving code watches. See README.md for the design.
package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/inferscale/inferscale/certs/authority"
)

// maxAttempts bounds the re-read/re-evaluate loop of one write. Each retry follows
// a peer's successful write, so running out means something rewrites the object
// continuously; the next sync tries again.
const maxAttempts = 5

// Manager keeps one binary's serving certificate, the shared CA and the webhook
// configurations' caBundle current. Every replica runs one: writes are optimistic
// (Create, or Update at the resourceVersion read), and a replica that loses a race
// re-reads and adopts the winner's result, so replicas never fight.
type Manager struct {
	c    client.Client
	opts Options
	log  logr.Logger

	// ensureMu serializes Ensure: the binary's first call and Start's loop may
	// overlap, and two writers in one cert dir would race on its links.
	ensureMu sync.Mutex

	mu     sync.RWMutex
	bundle []byte
}

var (
	_ manager.Runnable               = (*Manager)(nil)
	_ manager.LeaderElectionRunnable = (*Manager)(nil)
)

// NewManager checks opts and returns a Manager writing through c. Use a client that
// reads from the API server, not from an informer cache (client.New, not the
// manager's client): a cache would watch every Secret of the cluster and need
// list/watch permission on them, and reads of what a peer just wrote must be fresh.
func NewManager(c client.Client, opts Options) (*Manager, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("certificate options: %w", err)
	}
	if !opts.SelfManaged() && opts.Mode != "" {
		return nil, fmt.Errorf("a certificate manager is for --cert-mode=%s, not %s", ModeSelfManaged, opts.Mode)
	}
	log := opts.Log
	if log.GetSink() == nil {
		log = ctrllog.Log.WithName("certs")
	}
	return &Manager{c: c, opts: opts, log: log.WithValues("secret", opts.ServingSecret)}, nil
}

// CABundle is the PEM trust bundle (current CA first, then previous CAs still
// valid) as last read or written by Ensure, or nil before one.
func (m *Manager) CABundle() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return bytes.Clone(m.bundle)
}

// NeedLeaderElection is false: every replica serves, so every replica must keep
// its own files fresh; the API writes are safe without a leader.
func (m *Manager) NeedLeaderElection() bool { return false }

// Start runs Ensure at once and then every SyncInterval until ctx ends. A failed
// round is logged and retried on the next tick rather than stopping the process:
// the certificates on disk stay valid for months.
func (m *Manager) Start(ctx context.Context) error {
	ticker := m.opts.Clock.NewTicker(m.opts.SyncInterval)
	defer ticker.Stop()
	for {
		if err := m.Ensure(ctx); err != nil && ctx.Err() == nil {
			syncErrorsMetric.Inc()
			m.log.Error(err, "certificate sync failed, retrying", "in", m.opts.SyncInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Ensure makes the CA, the caBundle of the webhook configurations, the serving
// certificate and the cert dir's files current, creating or renewing what is
// missing, unparsable or due. Call it once before serving, so the files exist when
// the TLS listener starts.
//
// The caBundle is patched before a certificate signed by a new CA is written, so
// the API server trusts a new CA before it meets a certificate signed by it.
func (m *Manager) Ensure(ctx context.Context) error {
	m.ensureMu.Lock()
	defer m.ensureMu.Unlock()
	ca, bundle, err := m.ensureCA(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.bundle = bundle
	m.mu.Unlock()
	expiryMetric.WithLabelValues(m.opts.CASecret).Set(float64(ca.Cert.NotAfter.Unix()))

	var errs []error
	for _, name := range m.opts.MutatingWebhookConfigurations {
		errs = append(errs, m.ensureCABundle(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{}, name, bundle))
	}
	for _, name := range m.opts.ValidatingWebhookConfigurations {
		errs = append(errs, m.ensureCABundle(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{}, name, bundle))
	}
	// A caBundle that could not be patched (RBAC, API hiccup) must not keep this
	// replica from serving: go on and report it.
	serving, err := m.ensureServing(ctx, ca, bundle)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if kp, err := authority.Parse(serving[CertKey], serving[KeyKey]); err == nil {
		expiryMetric.WithLabelValues(m.opts.ServingSecret).Set(float64(kp.Cert.NotAfter.Unix()))
	}
	if m.opts.CertDir != "" {
		err := writeAtomic(m.opts.CertDir, map[string][]byte{
			CertKey: serving[CertKey],
			KeyKey:  serving[KeyKey],
			CAKey:   serving[CAKey],
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("writing certificates to %s: %w", m.opts.CertDir, err))
		}
	}
	return errors.Join(errs...)
}

// ensureCA returns the signing CA and the trust bundle, creating the CA Secret if it is
// missing and stepping its rotation (authority.Rotation.Step) otherwise.
func (m *Manager) ensureCA(ctx context.Context) (*authority.KeyPair, []byte, error) {
	key := types.NamespacedName{Namespace: m.opts.Namespace, Name: m.opts.CASecret}
	rotation := authority.Rotation{CommonName: m.opts.CACommonName, Validity: m.opts.CAValidity, Overlap: m.opts.CAOverlap}
	for range maxAttempts {
		now := m.opts.Clock.Now()
		var s corev1.Secret
		err := m.c.Get(ctx, key, &s)
		if apierrors.IsNotFound(err) {
			a, _, err := rotation.Step(now, authority.Authority{}, false)
			if err != nil {
				return nil, nil, err
			}
			bundle := a.Bundle(now)
			s := m.secret(key, caData(a, bundle))
			if err := m.c.Create(ctx, s); apierrors.IsAlreadyExists(err) {
				continue // a peer created it first: adopt theirs
			} else if err != nil {
				return nil, nil, fmt.Errorf("creating CA secret %s: %w", key, err)
			}
			m.log.Info("created CA", "ca", key.Name, "notAfter", a.Signing.Cert.NotAfter)
			return a.Signing, bundle, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading CA secret %s: %w", key, err)
		}

		_, rotate := s.Annotations[AnnotationRotateCA]
		a, reason, err := rotation.Step(now, parseAuthority(s.Data), rotate)
		if err != nil {
			return nil, nil, fmt.Errorf("CA secret %s: %w", key, err)
		}
		bundle := a.Bundle(now)
		data := caData(a, bundle)
		handled := rotate && a.Next != nil
		if !handled && maps.EqualFunc(s.Data, data, bytes.Equal) {
			return a.Signing, bundle, nil
		}
		s.Data = data
		if handled {
			delete(s.Annotations, AnnotationRotateCA)
		}
		// s carries the resourceVersion read above: a peer's write in between
		// makes this a Conflict instead of overwriting its CA.
		if err := m.c.Update(ctx, &s); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("updating CA secret %s: %w", key, err)
		}
		if reason != "" {
			m.log.Info("CA rotation", "ca", key.Name, "reason", reason, "notAfter", a.Signing.Cert.NotAfter)
		}
		return a.Signing, bundle, nil
	}
	return nil, nil, fmt.Errorf("CA secret %s: still conflicting after %d attempts", key, maxAttempts)
}

// parseAuthority reads a CA Secret's data. A signing or staged CA that does not parse, or is
// no CA, is absent; every other certificate of the bundle is retired.
func parseAuthority(data map[string][]byte) authority.Authority {
	var a authority.Authority
	pair := func(certKey, keyKey string) *authority.KeyPair {
		kp, err := authority.ParseCA(data[certKey], data[keyKey])
		if err != nil {
			return nil
		}
		return kp
	}
	a.Signing, a.Next = pair(CertKey, KeyKey), pair(NextCertKey, NextKeyKey)
	for _, c := range authority.ParseBundle(data[CAKey]) {
		if (a.Signing != nil && c.Equal(a.Signing.Cert)) || (a.Next != nil && c.Equal(a.Next.Cert)) {
			continue
		}
		a.Retired = append(a.Retired, c)
	}
	return a
}

// caData is the Secret data of a: the signing pair, the staged pair if any, the bundle.
func caData(a authority.Authority, bundle []byte) map[string][]byte {
	data := map[string][]byte{CertKey: a.Signing.CertPEM, KeyKey: a.Signing.KeyPEM, CAKey: bundle}
	if a.Next != nil {
		data[NextCertKey], data[NextKeyKey] = a.Next.CertPEM, a.Next.KeyPEM
	}
	return data
}

// ensureServing returns the data of the serving Secret, creating it or renewing its
// certificate when missing, unparsable, due, for other names or another CA, and
// refreshing its ca.crt when the bundle changed.
func (m *Manager) ensureServing(ctx context.Context, ca *authority.KeyPair, bundle []byte) (map[string][]byte, error) {
	key := types.NamespacedName{Namespace: m.opts.Namespace, Name: m.opts.ServingSecret}
	names := authority.ServiceDNSNames(m.opts.Service, m.opts.Namespace)
	for range maxAttempts {
		now := m.opts.Clock.Now()
		var s corev1.Secret
		err := m.c.Get(ctx, key, &s)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading serving secret %s: %w", key, err)
		}
		found := err == nil

		data := s.Data
		reason, renew := authority.NeedsRenewal(now, data[CertKey], data[KeyKey], ca.Cert, names)
		if !renew && bytes.Equal(data[CAKey], bundle) {
			return data, nil
		}
		if renew {
			kp, err := ca.Issue(now, names, m.opts.Validity)
			if err != nil {
				return nil, err
			}
			data = map[string][]byte{CertKey: kp.CertPEM, KeyKey: kp.KeyPEM}
			reason = fmt.Sprintf("%s; new one expires at %s", reason, kp.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		data[CAKey] = bundle

		if !found {
			if err := m.c.Create(ctx, m.secret(key, data)); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("creating serving secret %s: %w", key, err)
			}
			m.log.Info("created serving certificate", "names", names)
			return data, nil
		}
		s.Data = data
		if err := m.c.Update(ctx, &s); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("updating serving secret %s: %w", key, err)
		}
		if renew {
			m.log.Info("renewed serving certificate", "reason", reason)
		}
		return data, nil
	}
	return nil, fmt.Errorf("serving secret %s: still conflicting after %d attempts", key, maxAttempts)
}

// ensureCABundle sets caBundle on every webhook of one configuration. A missing
// configuration is skipped: it is created by the manifests, maybe after this pod
// starts, and the next sync patches it.
func (m *Manager) ensureCABundle(ctx context.Context, obj client.Object, name string, bundle []byte) error {
	for range maxAttempts {
		if err := m.c.Get(ctx, types.NamespacedName{Name: name}, obj); apierrors.IsNotFound(err) {
			m.log.V(1).Info("webhook configuration not found, will retry", "configuration", name)
			return nil
		} else if err != nil {
			return fmt.Errorf("reading webhook configuration %s: %w", name, err)
		}
		if !setCABundles(obj, bundle) {
			return nil
		}
		if err := m.c.Update(ctx, obj); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("updating caBundle of webhook configuration %s: %w", name, err)
		}
		m.log.Info("updated caBundle", "configuration", name)
		return nil
	}
	return fmt.Errorf("webhook configuration %s: still conflicting after %d attempts", name, maxAttempts)
}

// setCABundles reports whether any webhook's caBundle differed and was set.
func setCABundles(obj client.Object, bundle []byte) bool {
	var clientConfigs []*admissionregistrationv1.WebhookClientConfig
	switch o := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range o.Webhooks {
			clientConfigs = append(clientConfigs, &o.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range o.Webhooks {
			clientConfigs = append(clientConfigs, &o.Webhooks[i].ClientConfig)
		}
	}
	changed := false
	for _, cc := range clientConfigs {
		if !bytes.Equal(cc.CABundle, bundle) {
			cc.CABundle = bundle
			changed = true
		}
	}
	return changed
}

func (m *Manager) secret(key types.NamespacedName, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace,
			Name:      key.Name,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "inferscale",
				"app.kubernetes.io/component":  "certificates",
				"app.kubernetes.io/managed-by": "inferscale",
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: data,
	}
}

// CABundleFile is where the trust bundle lies in a cert dir, in both modes.
func CABundleFile(certDir string) string { return filepath.Join(certDir, CAKey) }
