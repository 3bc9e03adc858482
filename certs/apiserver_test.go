package certs

import (
	"bytes"
	"context"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/inferscale/inferscale/internal/apiservertest"
)

// Against a real API server, each replica of both binaries, racing, with exactly
// the RBAC README.md lists (impersonating their ServiceAccounts), ends with one CA,
// Secrets the API server accepts, and the caBundle set.
func TestRealAPIServerWithDocumentedRBAC(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts etcd and kube-apiserver")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: apiservertest.Assets(t), ControlPlaneStartTimeout: apiservertest.StartTimeout}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := t.Context()
	admin, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := admin.Create(ctx, o); err != nil {
				t.Fatalf("create %s: %v", o.GetName(), err)
			}
		}
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}})
	none, ignore := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Ignore
	cc := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: Namespace, Name: WebhookService}}
	create(
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: MutatingWebhook},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "pods.inferscale.io", ClientConfig: cc, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}}},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: ValidatingHook},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "policies.inferscale.io", ClientConfig: cc, SideEffects: &none, FailurePolicy: &ignore, AdmissionReviewVersions: []string{"v1"}}},
		},
	)
	for _, b := range []struct {
		sa, ca, secret string
		webhook        bool
	}{{"inferscale-webhook", WebhookCASecret, WebhookSecret, true}, {"inferscale-scaler", ScalerCASecret, ScalerSecret, false}} {
		subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: Namespace, Name: b.sa}}
		create(
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: b.sa}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "update"}, ResourceNames: []string{b.ca, b.secret}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
			}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: b.sa}, Subjects: subjects,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: b.sa}},
		)
		if b.webhook {
			create(
				&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: b.sa}, Rules: []rbacv1.PolicyRule{
					{APIGroups: []string{admissionregistrationv1.GroupName}, Resources: []string{"mutatingwebhookconfigurations"}, Verbs: []string{"get", "update"}, ResourceNames: []string{MutatingWebhook}},
					{APIGroups: []string{admissionregistrationv1.GroupName}, Resources: []string{"validatingwebhookconfigurations"}, Verbs: []string{"get", "update"}, ResourceNames: []string{ValidatingHook}},
				}},
				&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: b.sa}, Subjects: subjects,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.sa}},
			)
		}
	}
	as := func(sa string) client.Client {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + Namespace + ":" + sa}
		cl, err := client.New(c, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}

	// Three replicas of each binary, the webhook's first.
	var managers []*Manager
	for range 3 {
		for _, b := range []struct {
			sa   string
			opts Options
		}{{"inferscale-webhook", WebhookOptions()}, {"inferscale-scaler", ScalerOptions()}} {
			b.opts.CertDir = t.TempDir()
			m, err := NewManager(as(b.sa), b.opts)
			if err != nil {
				t.Fatal(err)
			}
			managers = append(managers, m)
		}
	}
	ensureAll := func() {
		t.Helper()
		var wg sync.WaitGroup
		for _, m := range managers {
			wg.Go(func() {
				if err := m.Ensure(context.WithoutCancel(ctx)); err != nil {
					t.Errorf("Ensure (%s): %v", m.opts.ServingSecret, err)
				}
			})
		}
		wg.Wait()
	}
	ensureAll()
	// A replica that read before a peer's last write adopts it on its next sync.
	ensureAll()
	// managers alternate webhook, scaler: each binary's replicas agree, the two CAs differ.
	for i, m := range managers {
		if !bytes.Equal(m.CABundle(), managers[i%2].CABundle()) {
			t.Fatalf("replicas of %s disagree on the CA bundle", m.opts.ServingSecret)
		}
	}
	if bytes.Equal(managers[0].CABundle(), managers[1].CABundle()) {
		t.Fatal("the webhook and the scaler share a CA")
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := admin.Get(ctx, client.ObjectKey{Name: ValidatingHook}, &vwc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vwc.Webhooks[0].ClientConfig.CABundle, managers[0].CABundle()) {
		t.Error("caBundle of the validating webhook not set")
	}
	checkConsistent(t, admin, managers[0].opts.Clock.Now(), managers[0], managers[2], managers[4])
	// The scaler's Role reaches only its own CA and serving Secret.
	for _, name := range []string{WebhookCASecret, WebhookSecret} {
		if err := as("inferscale-scaler").Get(ctx, client.ObjectKey{Namespace: Namespace, Name: name}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
			t.Errorf("the scaler reading the webhook's Secret %s: %v, want forbidden", name, err)
		}
	}
}
