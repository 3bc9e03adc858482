// Package auth authenticates agent reports: the bearer token goes through a TokenReview with
// audience inferscale-scaler, and the reviewed identity must be a pod-bound service-account
// token of the very pod the report is about.
//
// Results are cached, keyed by a hash of the token: a positive one until the token expires (the
// TokenReview verified it; its exp claim is read here without verifying again), a negative one
// briefly, so that one report per pod per second costs one TokenReview per token lifetime. A
// bound token outlives its pod in this cache; attribution, which looks the pod up by UID in the
// API server's view, refuses reports of deleted pods.
package auth

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/utils/clock"
)

// Audience is the audience of the agents' projected tokens.
const Audience = "inferscale-scaler"

// Keys of the user info extra that the API server sets for pod-bound service-account tokens.
const (
	ExtraPodName = "authentication.kubernetes.io/pod-name"
	ExtraPodUID  = "authentication.kubernetes.io/pod-uid"
)

const serviceAccountPrefix = "system:serviceaccount:"

var (
	// ErrUnauthenticated: no token, or one the API server does not accept for the audience (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: a valid token of another pod than the report's (403).
	ErrForbidden = errors.New("forbidden")
)

// Identity is the pod a token was bound to, as the API server vouches for it.
type Identity struct {
	Namespace      string
	ServiceAccount string
	PodName        string
	PodUID         string
}

// Authorize checks that the identity is the pod the report names.
func (id Identity) Authorize(namespace, name, uid string) error {
	if id.Namespace != namespace || id.PodName != name || id.PodUID != uid {
		return fmt.Errorf("%w: token of pod %s/%s (uid %s) cannot report for pod %s/%s (uid %s)",
			ErrForbidden, id.Namespace, id.PodName, id.PodUID, namespace, name, uid)
	}
	return nil
}

// Reviewer sends one TokenReview. The client-go TokenReviewInterface has this method.
type Reviewer interface {
	Create(ctx context.Context, review *authnv1.TokenReview, opts metav1.CreateOptions) (*authnv1.TokenReview, error)
}

var _ Reviewer = authnv1client.TokenReviewInterface(nil)

// Options tune the cache.
type Options struct {
	// MaxEntries bounds the cache; the least recently used entry goes first. Default 16384.
	MaxEntries int
	// NegativeTTL is how long a refused token stays refused without asking again. Default 10 s.
	NegativeTTL time.Duration
	// MaxTTL caps a positive entry when the token has no exp claim. Default 10 min.
	MaxTTL time.Duration
}

// Authenticator reviews tokens and caches the results.
type Authenticator struct {
	reviewer Reviewer
	clock    clock.PassiveClock
	opts     Options

	mu      sync.Mutex
	entries map[[32]byte]*list.Element
	lru     *list.List // of *entry, most recent first
}

type entry struct {
	key     [32]byte
	id      Identity
	err     error
	expires time.Time
}

// New returns an Authenticator that asks reviewer.
func New(reviewer Reviewer, clk clock.PassiveClock, opts Options) *Authenticator {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 16384
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = 10 * time.Minute
	}
	return &Authenticator{reviewer: reviewer, clock: clk, opts: opts, entries: map[[32]byte]*list.Element{}, lru: list.New()}
}

// Authenticate returns the pod identity of token. Errors wrap ErrUnauthenticated for a token
// the API server refused; any other error is the review failing (the caller answers 503).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	key := sha256.Sum256([]byte(token))
	now := a.clock.Now()
	if id, err, ok := a.lookup(key, now); ok {
		return id, err
	}
	id, err := a.review(ctx, token)
	switch {
	case err == nil:
		expires := now.Add(a.opts.MaxTTL)
		if exp, ok := expiry(token); ok && exp.Before(expires) {
			expires = exp
		}
		a.store(&entry{key: key, id: id, expires: expires})
	case errors.Is(err, ErrUnauthenticated):
		a.store(&entry{key: key, err: err, expires: now.Add(a.opts.NegativeTTL)})
	}
	return id, err
}

func (a *Authenticator) lookup(key [32]byte, now time.Time) (Identity, error, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	el, ok := a.entries[key]
	if !ok {
		return Identity{}, nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		a.lru.Remove(el)
		delete(a.entries, key)
		return Identity{}, nil, false
	}
	a.lru.MoveToFront(el)
	return e.id, e.err, true
}

func (a *Authenticator) store(e *entry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if el, ok := a.entries[e.key]; ok {
		el.Value = e
		a.lru.MoveToFront(el)
		return
	}
	for a.lru.Len() >= a.opts.MaxEntries {
		old := a.lru.Back()
		a.lru.Remove(old)
		delete(a.entries, old.Value.(*entry).key)
	}
	a.entries[e.key] = a.lru.PushFront(e)
}

// Len is the number of cached results.
func (a *Authenticator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lru.Len()
}

func (a *Authenticator) review(ctx context.Context, token string) (Identity, error) {
	tr, err := a.reviewer.Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("token review: %w", err)
	}
	st := tr.Status
	if !st.Authenticated {
		reason := st.Error
		if reason == "" {
			reason = "token not authenticated"
		}
		return Identity{}, fmt.Errorf("%w: %s", ErrUnauthenticated, reason)
	}
	// The API server answers with the audiences the token is valid for among those asked;
	// an authenticator that ignores audiences answers none, which must not pass.
	if !slices.Contains(st.Audiences, Audience) {
		return Identity{}, fmt.Errorf("%w: token is not valid for audience %q", ErrUnauthenticated, Audience)
	}
	rest, ok := strings.CutPrefix(st.User.Username, serviceAccountPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" {
		return Identity{}, fmt.Errorf("%w: %q is not a service account", ErrUnauthenticated, st.User.Username)
	}
	name, uid := one(st.User.Extra[ExtraPodName]), one(st.User.Extra[ExtraPodUID])
	if name == "" || uid == "" {
		return Identity{}, fmt.Errorf("%w: token of service account %s/%s is not bound to a pod", ErrUnauthenticated, ns, sa)
	}
	return Identity{Namespace: ns, ServiceAccount: sa, PodName: name, PodUID: uid}, nil
}

// one returns the single value of an extra, or "" when there is not exactly one.
func one(v authnv1.ExtraValue) string {
	if len(v) != 1 {
		return ""
	}
	return v[0]
}

// expiry reads the exp claim of a JWT without verifying it; the TokenReview did.
func expiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	sec, err := claims.Exp.Int64()
	if err != nil {
		f, ferr := claims.Exp.Float64()
		if ferr != nil {
			return time.Time{}, false
		}
		sec = int64(f)
	}
	return time.Unix(sec, 0), true
}
