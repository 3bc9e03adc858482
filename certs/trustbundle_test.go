package certs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/inferscale/inferscale/certs/authority"
)

func TestTrustBundlePublisherFollowsTheFile(t *testing.T) {
	c := newFakeClient()
	file := filepath.Join(t.TempDir(), CAKey)
	p := &TrustBundlePublisher{Client: c, Name: ScalerTrustBundle, File: file}
	ctx := context.Background()
	published := func() []byte {
		t.Helper()
		var ctb certificatesv1.ClusterTrustBundle
		if err := c.Get(ctx, types.NamespacedName{Name: ScalerTrustBundle}, &ctb); err != nil {
			t.Fatal(err)
		}
		return []byte(ctb.Spec.TrustBundle)
	}
	ca1, err := authority.NewCA(t0, "one", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := authority.NewCA(t0, "two", 30*day)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca1.Issue(t0, []string{"svc"}, day)
	if err != nil {
		t.Fatal(err)
	}

	if err := p.Publish(ctx); err == nil {
		t.Error("Publish without a file: want an error")
	}
	// A leaf and a duplicate are left out: the API server refuses both.
	write(t, file, string(ca1.CertPEM)+string(leaf.CertPEM)+string(ca1.CertPEM))
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := authority.ParseBundle(published()); len(got) != 1 || !got[0].Equal(ca1.Cert) {
		t.Fatalf("published %d certificates, want the one CA", len(got))
	}
	write(t, file, string(ca2.CertPEM)+string(ca1.CertPEM))
	if err := p.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := authority.ParseBundle(published()); len(got) != 2 || !got[0].Equal(ca2.Cert) {
		t.Fatalf("published %d certificates after the file changed, want both CAs", len(got))
	}
	before := published()
	write(t, file, string(leaf.CertPEM))
	if err := p.Publish(ctx); err == nil {
		t.Error("a file without a CA was published")
	}
	if string(published()) != string(before) {
		t.Error("a file without a CA replaced the published bundle")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
