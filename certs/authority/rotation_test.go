package authority

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestRotationStep(t *testing.T) {
	const overlap = time.Hour
	r := Rotation{CommonName: "test-ca", Validity: 30 * 24 * time.Hour, Overlap: overlap}
	signing := mustCA(t, t0, r.Validity)
	staged := mustCA(t, t0.Add(20*24*time.Hour), r.Validity)
	old := mustCA(t, t0.Add(-40*24*time.Hour), 90*24*time.Hour)
	expired := mustCA(t, t0.Add(-40*24*time.Hour), 30*24*time.Hour)
	stagedAt := t0.Add(20 * 24 * time.Hour)

	tests := []struct {
		name    string
		now     time.Time
		cur     Authority
		rotate  bool
		signing *KeyPair // nil: a new one
		next    bool     // a successor is staged
		retired []*x509.Certificate
		because string
	}{
		{name: "fresh: nothing to do", now: t0.Add(time.Hour), cur: Authority{Signing: signing}, signing: signing},
		{name: "none: a new CA signs at once", now: t0, cur: Authority{}, because: "no valid signing CA"},
		{name: "due: a successor is staged, the CA keeps signing", now: t0.Add(21 * 24 * time.Hour), cur: Authority{Signing: signing}, signing: signing, next: true, because: "a new CA is staged"},
		{name: "requested: staged", now: t0.Add(time.Hour), cur: Authority{Signing: signing}, rotate: true, signing: signing, next: true, because: "rotation requested"},
		{name: "requested while one is staged: nothing more", now: stagedAt.Add(time.Minute), cur: Authority{Signing: signing, Next: staged}, rotate: true, signing: signing, next: true},
		{name: "staged, within the overlap: unchanged", now: stagedAt.Add(overlap - time.Second), cur: Authority{Signing: signing, Next: staged}, signing: signing, next: true},
		{name: "staged for the overlap: it signs, the old one retires", now: stagedAt.Add(overlap), cur: Authority{Signing: signing, Next: staged}, signing: staged, retired: []*x509.Certificate{signing.Cert}, because: "signs now"},
		{name: "retired within the overlap after the switch: kept", now: stagedAt.Add(2*overlap - time.Second), cur: Authority{Signing: staged, Retired: []*x509.Certificate{signing.Cert}}, signing: staged, retired: []*x509.Certificate{signing.Cert}},
		{name: "retired an overlap after the switch: dropped", now: stagedAt.Add(2 * overlap), cur: Authority{Signing: staged, Retired: []*x509.Certificate{signing.Cert}}, signing: staged, because: "no longer trusted"},
		{name: "broken signing CA with one staged: the staged one signs at once", now: stagedAt.Add(time.Minute), cur: Authority{Next: staged, Retired: []*x509.Certificate{old.Cert}}, signing: staged, retired: []*x509.Certificate{old.Cert}, because: "no valid signing CA"},
		{name: "expired signing CA: replaced at once, not staged", now: t0, cur: Authority{Signing: expired}, because: "no valid signing CA"},
		{name: "expired retired CA: dropped", now: t0, cur: Authority{Signing: signing, Retired: []*x509.Certificate{expired.Cert, old.Cert}}, signing: signing, retired: []*x509.Certificate{old.Cert}, because: "no longer trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := r.Step(tt.now, tt.cur, tt.rotate)
			if err != nil {
				t.Fatal(err)
			}
			if tt.signing != nil && !got.Signing.Cert.Equal(tt.signing.Cert) {
				t.Errorf("signing CA %s, want %s", got.Signing.Cert.NotBefore, tt.signing.Cert.NotBefore)
			}
			if tt.signing == nil && (got.Signing == nil || !got.Signing.Cert.NotBefore.Equal(tt.now.Add(-backdate))) {
				t.Errorf("want a CA made now signing")
			}
			if (got.Next != nil) != tt.next {
				t.Errorf("staged successor: %v, want %v", got.Next != nil, tt.next)
			}
			if len(got.Retired) != len(tt.retired) {
				t.Fatalf("%d retired, want %d", len(got.Retired), len(tt.retired))
			}
			for i := range tt.retired {
				if !got.Retired[i].Equal(tt.retired[i]) {
					t.Errorf("retired[%d] differs", i)
				}
			}
			if (reason == "") != (tt.because == "") || !strings.Contains(reason, tt.because) {
				t.Errorf("reason %q, want one with %q", reason, tt.because)
			}
		})
	}
}

// Across a whole rotation, a client holding any bundle published at or after the staging
// trusts every serving certificate issued from then on, and one holding the bundle from
// before trusts every certificate up to the switch.
func TestRotationOverlapKeepsEveryClient(t *testing.T) {
	const overlap = time.Hour
	r := Rotation{CommonName: "test-ca", Validity: 30 * 24 * time.Hour, Overlap: overlap}
	a, _, err := r.Step(t0, Authority{}, false)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"svc.ns.svc"}
	var bundles [][]byte // every bundle ever published, with the time it was
	var at []time.Time
	start := t0.Add(21 * 24 * time.Hour)
	for now := start.Add(-10 * time.Minute); now.Before(start.Add(3 * overlap)); now = now.Add(5 * time.Minute) {
		if a, _, err = r.Step(now, a, false); err != nil {
			t.Fatal(err)
		}
		bundles, at = append(bundles, a.Bundle(now)), append(at, now)
		leaf := mustIssue(t, a.Signing, now, names, 24*time.Hour)
		for i, b := range bundles {
			// A client is at most one overlap behind (the overlap is chosen so).
			if now.Sub(at[i]) >= overlap {
				continue
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(b)
			if _, err := leaf.Cert.Verify(x509.VerifyOptions{DNSName: names[0], Roots: roots, CurrentTime: now}); err != nil {
				t.Fatalf("at %s a certificate is not trusted by the bundle of %s: %v", now.Sub(start), at[i].Sub(start), err)
			}
		}
	}
	if a.Signing.Cert.NotBefore.Before(start.Add(-time.Hour)) || len(a.Retired) != 0 {
		t.Errorf("the rotation did not complete: signing CA from %s, %d retired", a.Signing.Cert.NotBefore, len(a.Retired))
	}
}
