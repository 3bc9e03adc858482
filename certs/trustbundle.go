package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/inferscale/inferscale/certs/authority"
)

// TrustBundlePublisher keeps a ClusterTrustBundle equal to the trust bundle file of a cert
// dir, in both modes: the file the Manager writes (self-managed) or the Secret cert-manager
// writes, mounted. Pods in any namespace project a ClusterTrustBundle by name, and the
// kubelet refreshes the projected file when it changes, so clients follow a CA rotation
// without a restart (a ConfigMap or Secret could only be projected in its own namespace).
type TrustBundlePublisher struct {
	// Client writes directly to the API server (get, create, update of that one object).
	Client client.Client
	// Name of the ClusterTrustBundle, e.g. ScalerTrustBundle.
	Name string
	// File is the PEM bundle to publish, e.g. CABundleFile(certDir).
	File string
	// Interval between checks. Default one minute.
	Interval time.Duration
	Clock    clock.WithTicker
	Log      logr.Logger
}

var (
	_ manager.Runnable               = (*TrustBundlePublisher)(nil)
	_ manager.LeaderElectionRunnable = (*TrustBundlePublisher)(nil)
)

// NeedLeaderElection is true: replicas read their files at different moments, and one
// writer keeps them from writing an older bundle over a newer one.
func (p *TrustBundlePublisher) NeedLeaderElection() bool { return true }

// Start publishes at once and then every Interval until ctx ends; a failed round is
// logged, counted and tried again at the next.
func (p *TrustBundlePublisher) Start(ctx context.Context) error {
	interval, clk, log := p.Interval, p.Clock, p.Log
	if interval <= 0 {
		interval = defaultSyncInterval
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log.GetSink() == nil {
		log = ctrllog.Log.WithName("certs")
	}
	ticker := clk.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := p.Publish(ctx); err != nil && ctx.Err() == nil {
			syncErrorsMetric.Inc()
			log.Error(err, "publishing the trust bundle failed, retrying", "clusterTrustBundle", p.Name, "in", interval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Publish makes the ClusterTrustBundle hold the file's certificates, creating it if it is
// missing. A file without a certificate is refused rather than published: an empty bundle
// would cut every client off.
func (p *TrustBundlePublisher) Publish(ctx context.Context) error {
	raw, err := os.ReadFile(p.File)
	if err != nil {
		return fmt.Errorf("reading the trust bundle: %w", err)
	}
	bundle := canonicalBundle(raw)
	if len(bundle) == 0 {
		return fmt.Errorf("trust bundle %s holds no CA certificate", p.File)
	}
	for range maxAttempts {
		var ctb certificatesv1.ClusterTrustBundle
		err := p.Client.Get(ctx, types.NamespacedName{Name: p.Name}, &ctb)
		if apierrors.IsNotFound(err) {
			ctb = certificatesv1.ClusterTrustBundle{
				ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: map[string]string{
					"app.kubernetes.io/name":       "inferscale",
					"app.kubernetes.io/component":  "certificates",
					"app.kubernetes.io/managed-by": "inferscale",
				}},
				Spec: certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(bundle)},
			}
			if err := p.Client.Create(ctx, &ctb); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return fmt.Errorf("creating ClusterTrustBundle %s: %w", p.Name, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading ClusterTrustBundle %s: %w", p.Name, err)
		}
		if bytes.Equal(canonicalBundle([]byte(ctb.Spec.TrustBundle)), bundle) {
			return nil
		}
		ctb.Spec.TrustBundle = string(bundle)
		if err := p.Client.Update(ctx, &ctb); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("updating ClusterTrustBundle %s: %w", p.Name, err)
		}
		return nil
	}
	return errors.New("ClusterTrustBundle " + p.Name + ": still conflicting")
}

// canonicalBundle re-encodes the CA certificates of a PEM bundle, without duplicates, in
// their order: the API server refuses duplicates, PEM headers and certificates that are no CA.
func canonicalBundle(raw []byte) []byte {
	var cas []*x509.Certificate
	for _, c := range authority.ParseBundle(raw) {
		if c.IsCA {
			cas = append(cas, c)
		}
	}
	if len(cas) == 0 {
		return nil
	}
	return authority.TrustBundle(time.Time{}, cas[0], cas[1:]) // the zero time drops none as expired
}
