package authority

import (
	"crypto/x509"
	"fmt"
	"time"
)

// DefaultOverlap is how long a new CA is trusted before it signs, and an old one still
// trusted after it stopped signing. It must exceed the time for a trust bundle to reach
// every client: a sync of the publishing binary, the kubelet refreshing a projected
// volume (about a minute), and a client re-reading the file.
const DefaultOverlap = 10 * time.Minute

// Authority is what a CA Secret holds: the CA that signs, a successor that is already
// trusted but does not sign yet, and the former signers still trusted for a while.
type Authority struct {
	Signing *KeyPair
	// Next is staged: in the bundle, so clients learn it, but signing nothing until the
	// overlap has passed since it was made.
	Next *KeyPair
	// Retired are former signing CAs, trusted until every serving certificate they
	// signed has been replaced.
	Retired []*x509.Certificate
}

// Bundle is the trust bundle of a: the signing CA first, then the staged one, then the
// retired ones still valid at now.
func (a Authority) Bundle(now time.Time) []byte {
	others := a.Retired
	if a.Next != nil {
		others = append([]*x509.Certificate{a.Next.Cert}, others...)
	}
	return TrustBundle(now, a.Signing.Cert, others)
}

// Rotation is how a CA is replaced.
type Rotation struct {
	// CommonName and Validity of a new CA.
	CommonName string
	Validity   time.Duration
	// Overlap: a new CA is staged this long before it signs; a retired one stays trusted
	// this long after its successor began to sign.
	Overlap time.Duration
}

// Step returns the authority at now and why it changed ("" when it did not): a missing or
// broken signing CA is replaced at once (nothing can be served meanwhile); a CA that is due
// (a third of its life left) or whose rotation is requested gets a staged successor; a
// successor staged for Overlap starts to sign and its predecessor retires; a retired CA
// is dropped once it expired or its successor has signed for Overlap.
//
// The times come from the certificates (a CA is made at its NotBefore plus the backdate),
// so every replica reaches the same decision from the Secret alone.
func (r Rotation) Step(now time.Time, cur Authority, rotate bool) (Authority, string, error) {
	next := Authority{Signing: cur.Signing, Next: cur.Next, Retired: cur.Retired}
	var reason string
	if next.Signing != nil && now.After(next.Signing.Cert.NotAfter) {
		next.Signing = nil // expired: waiting for a successor would serve nothing valid
	}
	if next.Signing == nil {
		ca, err := NewCA(now, r.CommonName, r.Validity)
		if err != nil {
			return cur, "", err
		}
		if next.Next != nil {
			ca = next.Next // already trusted by clients that synced
		}
		next.Signing, next.Next = ca, nil
		reason = "no valid signing CA"
	}
	if next.Next != nil && !now.Before(made(next.Next.Cert).Add(r.Overlap)) {
		next.Retired = append([]*x509.Certificate{next.Signing.Cert}, next.Retired...)
		next.Signing, next.Next = next.Next, nil
		reason = fmt.Sprintf("the CA staged at %s signs now", made(next.Signing.Cert).UTC().Format(time.RFC3339))
	}
	if next.Next == nil && reason == "" {
		why, due := CANeedsRenewal(now, next.Signing.CertPEM, next.Signing.KeyPEM)
		if rotate {
			why, due = "rotation requested", true
		}
		if due {
			ca, err := NewCA(now, r.CommonName, r.Validity)
			if err != nil {
				return cur, "", err
			}
			next.Next = ca
			reason = fmt.Sprintf("%s: a new CA is staged, it signs from %s", why, now.Add(r.Overlap).UTC().Format(time.RFC3339))
		}
	}
	var kept []*x509.Certificate
	for _, c := range next.Retired {
		if now.After(c.NotAfter) || !now.Before(made(next.Signing.Cert).Add(2*r.Overlap)) || c.Equal(next.Signing.Cert) {
			continue
		}
		kept = append(kept, c)
	}
	if len(kept) < len(next.Retired) && reason == "" {
		reason = "a retired CA is no longer trusted"
	}
	next.Retired = kept
	return next, reason, nil
}

// made is when a certificate of this package was signed.
func made(c *x509.Certificate) time.Time { return c.NotBefore.Add(backdate) }
