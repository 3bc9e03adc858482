package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeReviewer answers from a table of tokens and counts the reviews.
type fakeReviewer struct {
	statuses map[string]authnv1.TokenReviewStatus
	err      error
	calls    int
}

func (f *fakeReviewer) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != Audience {
		return nil, fmt.Errorf("review asked for audiences %v", tr.Spec.Audiences)
	}
	out := tr.DeepCopy()
	out.Status = f.statuses[tr.Spec.Token]
	return out, nil
}

func podStatus(ns, name, uid string) authnv1.TokenReviewStatus {
	return authnv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{Audience},
		User: authnv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":default",
			Extra: map[string]authnv1.ExtraValue{
				ExtraPodName: {name},
				ExtraPodUID:  {uid},
			},
		},
	}
}

// jwt builds an unsigned token with the given exp claim.
func jwt(exp time.Time, id string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d,"jti":%q}`, exp.Unix(), id)) + ".sig"
}

func TestAuthenticate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := jwt(now.Add(time.Hour), "good")
	wrongAudience := jwt(now.Add(time.Hour), "aud")
	noPod := jwt(now.Add(time.Hour), "nopod")
	user := jwt(now.Add(time.Hour), "user")

	st := podStatus("ai", "llama-0", "uid-0")
	aud := st
	aud.Audiences = nil
	np := st
	np.User.Extra = nil
	us := st
	us.User.Username = "alice"
	rev := &fakeReviewer{statuses: map[string]authnv1.TokenReviewStatus{
		good: st, wrongAudience: aud, noPod: np, user: us,
		"refused": {Error: "invalid bearer token"},
	}}
	a := New(rev, clocktesting.NewFakeClock(now), Options{})

	id, err := a.Authenticate(context.Background(), good)
	if err != nil {
		t.Fatalf("good token: %v", err)
	}
	if want := (Identity{Namespace: "ai", ServiceAccount: "default", PodName: "llama-0", PodUID: "uid-0"}); id != want {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	for _, tok := range []string{"", "refused", wrongAudience, noPod, user} {
		if _, err := a.Authenticate(context.Background(), tok); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("token %q: got %v, want ErrUnauthenticated", tok, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	id := Identity{Namespace: "ai", PodName: "llama-0", PodUID: "uid-0"}
	if err := id.Authorize("ai", "llama-0", "uid-0"); err != nil {
		t.Errorf("own pod: %v", err)
	}
	for _, c := range [][3]string{{"other", "llama-0", "uid-0"}, {"ai", "llama-1", "uid-0"}, {"ai", "llama-0", "uid-1"}} {
		if err := id.Authorize(c[0], c[1], c[2]); !errors.Is(err, ErrForbidden) {
			t.Errorf("report for %v: got %v, want ErrForbidden", c, err)
		}
	}
}

func TestCacheUntilExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clk := clocktesting.NewFakeClock(now)
	tok := jwt(now.Add(3*time.Minute), "a")
	rev := &fakeReviewer{statuses: map[string]authnv1.TokenReviewStatus{tok: podStatus("ai", "p", "u")}}
	a := New(rev, clk, Options{})
	for range 3 {
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		clk.Step(time.Minute - time.Second)
	}
	if rev.calls != 1 {
		t.Errorf("reviews before expiry = %d, want 1", rev.calls)
	}
	clk.Step(4 * time.Second) // past exp
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if rev.calls != 2 {
		t.Errorf("reviews after expiry = %d, want 2", rev.calls)
	}
}

func TestNegativeCacheIsBrief(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clk := clocktesting.NewFakeClock(now)
	rev := &fakeReviewer{statuses: map[string]authnv1.TokenReviewStatus{}}
	a := New(rev, clk, Options{NegativeTTL: 10 * time.Second})
	for range 2 {
		if _, err := a.Authenticate(context.Background(), "bad"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	if rev.calls != 1 {
		t.Errorf("reviews of a refused token within the negative TTL = %d, want 1", rev.calls)
	}
	clk.Step(10 * time.Second)
	if _, err := a.Authenticate(context.Background(), "bad"); !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	if rev.calls != 2 {
		t.Errorf("reviews after the negative TTL = %d, want 2", rev.calls)
	}
}

func TestReviewFailureIsNotCached(t *testing.T) {
	rev := &fakeReviewer{err: errors.New("connection refused")}
	a := New(rev, clocktesting.NewFakeClock(time.Unix(0, 0)), Options{})
	for range 2 {
		_, err := a.Authenticate(context.Background(), "tok")
		if err == nil || errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("review failure: got %v, want a non-authentication error", err)
		}
	}
	if rev.calls != 2 || a.Len() != 0 {
		t.Errorf("calls = %d, cached = %d; want 2, 0", rev.calls, a.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rev := &fakeReviewer{statuses: map[string]authnv1.TokenReviewStatus{}}
	toks := make([]string, 5)
	for i := range toks {
		toks[i] = jwt(now.Add(time.Hour), fmt.Sprint(i))
		rev.statuses[toks[i]] = podStatus("ai", fmt.Sprint("p", i), "u")
	}
	a := New(rev, clocktesting.NewFakeClock(now), Options{MaxEntries: 3})
	for _, tok := range toks {
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != 3 {
		t.Fatalf("cache holds %d, want 3", a.Len())
	}
	// The most recent three are cached, the oldest evicted.
	calls := rev.calls
	if _, err := a.Authenticate(context.Background(), toks[4]); err != nil || rev.calls != calls {
		t.Errorf("recent token re-reviewed (err %v)", err)
	}
	if _, err := a.Authenticate(context.Background(), toks[0]); err != nil || rev.calls != calls+1 {
		t.Errorf("evicted token not re-reviewed (err %v)", err)
	}
}

func TestExpiry(t *testing.T) {
	if _, ok := expiry("not-a-jwt"); ok {
		t.Error("expiry of garbage: ok")
	}
	enc := base64.RawURLEncoding.EncodeToString
	if _, ok := expiry("a." + enc([]byte(`{"sub":"x"}`)) + ".c"); ok {
		t.Error("expiry without exp: ok")
	}
	exp, ok := expiry(jwt(time.Unix(1234, 0), "x"))
	if !ok || exp.Unix() != 1234 {
		t.Errorf("expiry = %v, %v; want 1234", exp.Unix(), ok)
	}
}
