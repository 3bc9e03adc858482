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

// A flood of random tokens fills only the cache of refused ones: every valid token stays
// cached and costs no further review.
func TestRefusedTokensDoNotEvictValidOnes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	rev := &fakeReviewer{statuses: map[string]authnv1.TokenReviewStatus{}}
	valid := make([]string, 3)
	for i := range valid {
		valid[i] = jwt(now.Add(time.Hour), fmt.Sprint(i))
		rev.statuses[valid[i]] = podStatus("ai", fmt.Sprint("p", i), "u")
	}
	a := New(rev, clocktesting.NewFakeClock(now), Options{MaxEntries: 3, MaxNegativeEntries: 10})
	for _, tok := range valid {
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		if _, err := a.Authenticate(context.Background(), fmt.Sprint("random-", i)); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("random token: %v", err)
		}
	}
	calls := rev.calls
	for _, tok := range valid {
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if rev.calls != calls {
		t.Errorf("valid tokens re-reviewed after the flood: %d reviews", rev.calls-calls)
	}
	if a.Len() != 3+10 {
		t.Errorf("cached %d, want 3 valid + 10 refused", a.Len())
	}
}

// blockingReviewer holds every review until released or its context ends.
type blockingReviewer struct {
	started  chan struct{}
	release  chan struct{}
	deadline chan time.Duration
}

func (b *blockingReviewer) Create(ctx context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	if d, ok := ctx.Deadline(); ok {
		b.deadline <- time.Until(d)
	} else {
		b.deadline <- -1
	}
	b.started <- struct{}{}
	select {
	case <-b.release:
		out := tr.DeepCopy()
		out.Status = authnv1.TokenReviewStatus{Error: "invalid"}
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestConcurrentReviewsAreCapped(t *testing.T) {
	rev := &blockingReviewer{started: make(chan struct{}, 10), release: make(chan struct{}), deadline: make(chan time.Duration, 10)}
	a := New(rev, clocktesting.NewFakeClock(time.Unix(0, 0)), Options{MaxConcurrentReviews: 2, ReviewTimeout: time.Minute})
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := a.Authenticate(context.Background(), fmt.Sprint("slow-", i))
			errs <- err
		}()
		<-rev.started
	}
	for range 2 {
		if d := <-rev.deadline; d <= 0 || d > time.Minute {
			t.Errorf("review deadline in %v, want within the 1m timeout", d)
		}
	}
	if _, err := a.Authenticate(context.Background(), "third"); !errors.Is(err, ErrBusy) {
		t.Errorf("third review while two run: %v, want ErrBusy", err)
	}
	close(rev.release)
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("released review: %v", err)
		}
	}
	// The slots are free again.
	if _, err := a.Authenticate(context.Background(), "fourth"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("after release: %v", err)
	}
}

func TestReviewTimesOut(t *testing.T) {
	rev := &blockingReviewer{started: make(chan struct{}, 1), release: make(chan struct{}), deadline: make(chan time.Duration, 1)}
	a := New(rev, clocktesting.NewFakeClock(time.Unix(0, 0)), Options{ReviewTimeout: 10 * time.Millisecond})
	_, err := a.Authenticate(context.Background(), "hangs")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnauthenticated) {
		t.Errorf("hanging review: %v, want a deadline error (503, not 401)", err)
	}
	if a.Len() != 0 {
		t.Error("a timed-out review was cached")
	}
}
