package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/inferscale/inferscale/certs/authority"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func webhookConfigs() []client.Object {
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: MutatingWebhook},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "pods.inferscale.io"}, {Name: "pods-again.inferscale.io"}},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: ValidatingHook},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "policies.inferscale.io"}},
		},
	}
}

func newFakeClient(objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithObjects(objs...).Build()
}

// newTestManager is a webhook Manager on c with a fake clock, short validities so
// that tests step through rotations, and its own cert dir.
func newTestManager(t *testing.T, c client.Client, clk *clocktesting.FakeClock) *Manager {
	t.Helper()
	opts := WebhookOptions()
	opts.CertDir = t.TempDir()
	opts.Validity = 3 * day
	opts.CAValidity = 30 * day
	opts.CAOverlap = time.Hour
	opts.Clock = clk
	m, err := NewManager(c, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

func getSecret(t *testing.T, c client.Client, name string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: Namespace, Name: name}, &s); err != nil {
		t.Fatalf("get secret %s: %v", name, err)
	}
	return &s
}

// checkConsistent asserts the invariants every successful Ensure leaves: the
// serving certificate verifies against the CA for every Service name, every
// webhook's caBundle and every ca.crt is the CA secret's bundle, and the cert dir
// holds the serving Secret's data.
func checkConsistent(t *testing.T, c client.Client, now time.Time, managers ...*Manager) {
	t.Helper()
	caSecret := getSecret(t, c, WebhookCASecret)
	serving := getSecret(t, c, WebhookSecret)
	bundle := caSecret.Data[CAKey]

	ca, err := authority.Parse(caSecret.Data[CertKey], caSecret.Data[KeyKey])
	if err != nil {
		t.Fatalf("CA secret: %v", err)
	}
	if first := authority.ParseBundle(bundle); len(first) == 0 || !first[0].Equal(ca.Cert) {
		t.Errorf("CA bundle does not start with the current CA")
	}
	kp, err := authority.Parse(serving.Data[CertKey], serving.Data[KeyKey])
	if err != nil {
		t.Fatalf("serving secret: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	for _, name := range authority.ServiceDNSNames(WebhookService, Namespace) {
		if _, err := kp.Cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("serving certificate for %q: %v", name, err)
		}
	}
	if !bytes.Equal(serving.Data[CAKey], bundle) {
		t.Errorf("serving secret ca.crt differs from the CA bundle")
	}

	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(context.Background(), types.NamespacedName{Name: MutatingWebhook}, &mwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range mwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
			t.Errorf("mutating webhook %s caBundle differs from the CA bundle", w.Name)
		}
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(context.Background(), types.NamespacedName{Name: ValidatingHook}, &vwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
			t.Errorf("validating webhook %s caBundle differs from the CA bundle", w.Name)
		}
	}

	for _, m := range managers {
		if !bytes.Equal(m.CABundle(), bundle) {
			t.Errorf("manager's CABundle() differs from the CA secret's")
		}
		for _, key := range []string{CertKey, KeyKey, CAKey} {
			got, err := os.ReadFile(filepath.Join(m.opts.CertDir, key))
			if err != nil {
				t.Fatalf("cert dir: %v", err)
			}
			if !bytes.Equal(got, serving.Data[key]) {
				t.Errorf("cert dir %s differs from the serving secret", key)
			}
		}
	}
}

func TestEnsureCreatesEverythingAndIsIdempotent(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx := context.Background()

	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	checkConsistent(t, c, clk.Now(), m)
	if s := getSecret(t, c, WebhookSecret); s.Type != corev1.SecretTypeTLS {
		t.Errorf("serving secret type %q, want %q", s.Type, corev1.SecretTypeTLS)
	}

	caRV := getSecret(t, c, WebhookCASecret).ResourceVersion
	servingRV := getSecret(t, c, WebhookSecret).ResourceVersion
	gen, _ := os.Readlink(filepath.Join(m.opts.CertDir, dataLink))
	clk.Step(day)
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if got := getSecret(t, c, WebhookCASecret).ResourceVersion; got != caRV {
		t.Errorf("CA secret rewritten with nothing due (resourceVersion %s → %s)", caRV, got)
	}
	if got := getSecret(t, c, WebhookSecret).ResourceVersion; got != servingRV {
		t.Errorf("serving secret rewritten with nothing due (resourceVersion %s → %s)", servingRV, got)
	}
	if got, _ := os.Readlink(filepath.Join(m.opts.CertDir, dataLink)); got != gen {
		t.Errorf("cert dir rewritten with nothing due (%s → %s)", gen, got)
	}
}

func TestEnsureRotates(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx := context.Background()
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	firstCA := getSecret(t, c, WebhookCASecret).Data[CertKey]
	firstServing := getSecret(t, c, WebhookSecret).Data[CertKey]

	// Two thirds of the 3-day serving lifetime gone: the serving certificate is
	// renewed under the same CA.
	clk.Step(2*day + time.Hour)
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure after 2 days: %v", err)
	}
	checkConsistent(t, c, clk.Now(), m)
	if bytes.Equal(getSecret(t, c, WebhookSecret).Data[CertKey], firstServing) {
		t.Error("serving certificate not renewed with a third of its lifetime left")
	}
	if !bytes.Equal(getSecret(t, c, WebhookCASecret).Data[CertKey], firstCA) {
		t.Error("CA renewed though far from expiry")
	}

	// Two thirds of the 30-day CA lifetime gone: a new CA is staged, trusted but not
	// signing: the serving certificate (renewed, it is due too) is the old CA's.
	clk.SetTime(t0.Add(21 * day))
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure after 21 days: %v", err)
	}
	checkConsistent(t, c, clk.Now(), m)
	staged := getSecret(t, c, WebhookCASecret)
	if !bytes.Equal(staged.Data[CertKey], firstCA) || len(staged.Data[NextCertKey]) == 0 {
		t.Fatal("a due CA was not kept signing with a successor staged")
	}
	servingBefore := getSecret(t, c, WebhookSecret).Data[CertKey]
	verifyServing(t, servingBefore, firstCA, clk.Now())
	if got := authority.ParseBundle(staged.Data[CAKey]); len(got) != 2 {
		t.Fatalf("bundle while a CA is staged has %d certificates, want the signing and the staged one", len(got))
	}
	// A client that last read the bundle now, before the switch.
	clientBundle := staged.Data[CAKey]

	// Within the overlap nothing changes.
	clk.Step(59 * time.Minute)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(getSecret(t, c, WebhookCASecret).Data[CertKey], firstCA) {
		t.Fatal("the staged CA signs before the overlap has passed")
	}

	// After the overlap the staged CA signs, the serving certificate is re-issued under
	// it, and the client that read the bundle before the switch still trusts it.
	clk.Step(2 * time.Minute)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, clk.Now(), m)
	promoted := getSecret(t, c, WebhookCASecret)
	if !bytes.Equal(promoted.Data[CertKey], staged.Data[NextCertKey]) || len(promoted.Data[NextCertKey]) != 0 {
		t.Fatal("the staged CA does not sign after the overlap")
	}
	if got := authority.ParseBundle(promoted.Data[CAKey]); len(got) != 2 || !bytes.Equal(got[1].Raw, authority.ParseBundle(firstCA)[0].Raw) {
		t.Fatalf("bundle after the switch has %d certificates, want the new CA then the old one", len(got))
	}
	verifyServing(t, getSecret(t, c, WebhookSecret).Data[CertKey], clientBundle, clk.Now())
	// And a serving certificate the old CA signed (a replica that has not synced yet)
	// is still trusted by a client that has the new bundle.
	verifyServing(t, servingBefore, promoted.Data[CAKey], clk.Now())

	// An overlap after the switch, the old CA is no longer trusted.
	clk.Step(time.Hour)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, clk.Now(), m)
	if n := len(authority.ParseBundle(getSecret(t, c, WebhookCASecret).Data[CAKey])); n != 1 {
		t.Errorf("bundle has %d certificates an overlap after the switch, want 1", n)
	}
}

// verifyServing fails t unless the serving certificate certPEM verifies against bundle.
func verifyServing(t *testing.T, certPEM, bundle []byte, now time.Time) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	leaf := authority.ParseBundle(certPEM)
	if len(leaf) == 0 {
		t.Fatal("no serving certificate")
	}
	if _, err := leaf[0].Verify(x509.VerifyOptions{DNSName: WebhookService + "." + Namespace + ".svc", Roots: roots, CurrentTime: now}); err != nil {
		t.Errorf("serving certificate not trusted by the bundle: %v", err)
	}
}

// The rotation annotation stages a new CA at the next sync and is removed; the CA
// signs after the overlap.
func TestRotationRequest(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx := context.Background()
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	s := getSecret(t, c, WebhookCASecret)
	first := s.Data[CertKey]
	s.Annotations = map[string]string{AnnotationRotateCA: "", "other": "kept"}
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Minute)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	s = getSecret(t, c, WebhookCASecret)
	if len(s.Data[NextCertKey]) == 0 || !bytes.Equal(s.Data[CertKey], first) {
		t.Fatal("a requested rotation did not stage a new CA")
	}
	if _, ok := s.Annotations[AnnotationRotateCA]; ok || s.Annotations["other"] != "kept" {
		t.Errorf("annotations after staging: %v, want only the rotation request removed", s.Annotations)
	}
	next := s.Data[NextCertKey]
	clk.Step(time.Hour)
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, clk.Now(), m)
	if !bytes.Equal(getSecret(t, c, WebhookCASecret).Data[CertKey], next) {
		t.Error("the requested CA does not sign after the overlap")
	}
}

func TestEnsureRepairsDamagedSecrets(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx := context.Background()
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	s := getSecret(t, c, WebhookSecret)
	s.Data[KeyKey] = []byte("garbage")
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, types.NamespacedName{Name: MutatingWebhook}, &mwc); err != nil {
		t.Fatal(err)
	}
	mwc.Webhooks[1].ClientConfig.CABundle = nil // as a re-apply of the manifests might
	if err := c.Update(ctx, &mwc); err != nil {
		t.Fatal(err)
	}
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	checkConsistent(t, c, clk.Now(), m)
}

func TestEnsureWithoutWebhookConfigurations(t *testing.T) {
	c := newFakeClient()
	m := newTestManager(t, c, clocktesting.NewFakeClock(t0))
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure before the webhook configurations exist: %v", err)
	}
	getSecret(t, c, WebhookSecret)
}

// A peer creates the CA and the serving Secret between this replica's read and its
// Create: this replica must adopt the peer's, not replace them.
func TestCreateRaceAdoptsThePeersSecrets(t *testing.T) {
	base := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	peer := newTestManager(t, base, clk)

	raced := false
	c := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if obj.GetName() == WebhookCASecret && !raced {
				raced = true
				if err := peer.Ensure(ctx); err != nil {
					t.Errorf("peer Ensure: %v", err)
				}
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	m := newTestManager(t, c, clk)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if !raced {
		t.Fatal("the race was not staged: no Create of the CA secret")
	}
	peerFiles, _ := os.ReadFile(filepath.Join(peer.opts.CertDir, CertKey))
	if got := getSecret(t, base, WebhookSecret).Data[CertKey]; !bytes.Equal(got, peerFiles) {
		t.Error("the peer's serving certificate was replaced")
	}
	checkConsistent(t, base, clk.Now(), m, peer)
}

// A peer renews the due serving certificate between this replica's read and its
// Update: the Update conflicts, and this replica adopts the peer's certificate.
func TestUpdateConflictAdoptsThePeersRenewal(t *testing.T) {
	base := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	peer := newTestManager(t, base, clk)
	if err := peer.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Step(2*day + time.Hour)

	updates, conflicts := 0, 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if obj.GetName() != WebhookSecret {
				return c.Update(ctx, obj, opts...)
			}
			updates++
			if updates == 1 {
				if err := peer.Ensure(ctx); err != nil {
					t.Errorf("peer Ensure: %v", err)
				}
			}
			err := c.Update(ctx, obj, opts...)
			if apierrors.IsConflict(err) {
				conflicts++
			}
			return err
		},
	})
	m := newTestManager(t, c, clk)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if updates != 1 || conflicts != 1 {
		t.Fatalf("serving secret updates %d, conflicts %d; want one conflicting update and then adoption", updates, conflicts)
	}
	checkConsistent(t, base, clk.Now(), m, peer)
}

// Replicas starting together on an empty cluster end with one CA and one serving
// certificate, whatever the interleaving.
func TestRacingReplicasAgree(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	managers := make([]*Manager, 4)
	for i := range managers {
		managers[i] = newTestManager(t, c, clk)
	}
	var wg sync.WaitGroup
	for _, m := range managers {
		wg.Go(func() {
			if err := m.Ensure(context.Background()); err != nil {
				t.Errorf("Ensure: %v", err)
			}
		})
	}
	wg.Wait()
	// A replica that read before a peer's last write adopts it on its next sync.
	for _, m := range managers {
		if err := m.Ensure(context.Background()); err != nil {
			t.Fatalf("second Ensure: %v", err)
		}
	}
	checkConsistent(t, c, clk.Now(), managers...)
}

func TestStartRecreatesADeletedSecret(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Start(ctx) }()

	wait := func(what string, cond func() bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) { return cond(), nil })
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	secretExists := func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: WebhookSecret}, &corev1.Secret{}) == nil
	}
	// The ticker exists before the first Ensure ends: wait for its files too, or they could
	// land after the delete below and pass for the reload.
	certDirMatchesSecret := func() bool {
		var s corev1.Secret
		if c.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: WebhookSecret}, &s) != nil {
			return false
		}
		got, _ := os.ReadFile(filepath.Join(m.opts.CertDir, CertKey))
		return len(got) > 0 && bytes.Equal(got, s.Data[CertKey])
	}
	wait("the first sync", func() bool { return certDirMatchesSecret() && clk.HasWaiters() })
	before, _ := os.ReadFile(filepath.Join(m.opts.CertDir, CertKey))

	if err := c.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: WebhookSecret}}); err != nil {
		t.Fatal(err)
	}
	clk.Step(m.opts.SyncInterval)
	wait("the secret re-created", secretExists)
	wait("the cert dir reloaded", func() bool {
		got, _ := os.ReadFile(filepath.Join(m.opts.CertDir, CertKey))
		return certDirMatchesSecret() && !bytes.Equal(got, before)
	})
	checkConsistent(t, c, clk.Now(), m)

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start returned %v after cancel, want nil", err)
	}
}

func TestNewManagerRejectsBadOptions(t *testing.T) {
	c := newFakeClient()
	for name, mutate := range map[string]func(*Options){
		"no service":             func(o *Options) { o.Service = "" },
		"namespace no DNS label": func(o *Options) { o.Namespace = "Inferscale_System" },
		"no serving secret":      func(o *Options) { o.ServingSecret = "" },
		"serving secret is CA":   func(o *Options) { o.ServingSecret = o.CASecret },
		"negative validity":      func(o *Options) { o.Validity = -time.Hour },
		"validity beyond the CA": func(o *Options) { o.Validity = 11 * 365 * day },
		"unknown mode":           func(o *Options) { o.Mode = "manual" },
		"cert-manager mode":      func(o *Options) { o.Mode = ModeCertManager },
	} {
		t.Run(name, func(t *testing.T) {
			opts := ScalerOptions()
			mutate(&opts)
			if _, err := NewManager(c, opts); err == nil {
				t.Error("NewManager: want error")
			}
		})
	}
	if _, err := NewManager(c, ScalerOptions()); err != nil {
		t.Errorf("NewManager(ScalerOptions()): %v", err)
	}
}

// The serving code's certwatcher picks up a renewal from the file events of the
// generation swap alone (its poll is set out of reach), without a restart.
func TestCertwatcherReloadsRenewedCertificate(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	cw, err := certwatcher.New(filepath.Join(m.opts.CertDir, CertKey), filepath.Join(m.opts.CertDir, KeyKey))
	if err != nil {
		t.Fatalf("certwatcher: %v", err)
	}
	cw = cw.WithWatchInterval(time.Hour)
	go func() { _ = cw.Start(ctx) }()
	served := func() []byte {
		cert, _ := cw.GetCertificate(nil)
		return cert.Certificate[0]
	}
	first := served()
	// certwatcher adds its watches asynchronously after Start.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		clk.Step(2*day + time.Hour)
		if err := m.Ensure(ctx); err != nil {
			return false, err
		}
		return !bytes.Equal(served(), first), nil
	}); err != nil {
		t.Fatalf("certwatcher never served the renewed certificate: %v", err)
	}
	// No more renewals: it settles on exactly what the cert dir holds.
	onDisk, _ := os.ReadFile(filepath.Join(m.opts.CertDir, CertKey))
	want := authority.ParseBundle(onDisk)
	if len(want) == 0 {
		t.Fatal("cert dir holds no certificate")
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return bytes.Equal(served(), want[0].Raw), nil
	}); err != nil {
		t.Errorf("certwatcher serves a certificate other than the cert dir's: %v", err)
	}
}

func TestEnsureExportsExpiry(t *testing.T) {
	c := newFakeClient(webhookConfigs()...)
	clk := clocktesting.NewFakeClock(t0)
	m := newTestManager(t, c, clk)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for secret, want := range map[string]time.Time{
		WebhookCASecret: t0.Add(m.opts.CAValidity),
		WebhookSecret:   t0.Add(m.opts.Validity),
	} {
		var got dto.Metric
		if err := expiryMetric.WithLabelValues(secret).Write(&got); err != nil {
			t.Fatal(err)
		}
		if got.GetGauge().GetValue() != float64(want.Unix()) {
			t.Errorf("expiry of %s = %v, want %v", secret, got.GetGauge().GetValue(), want.Unix())
		}
	}
}
