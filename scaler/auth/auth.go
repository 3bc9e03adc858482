// Package auth authenticates agent reports: the bearer token goes through a TokenReview with
// audience inferscale-scaler, and the reviewed identity must be a pod-bound service-account
// token of the very pod the report is about.
//
// Results are cached, keyed by a hash of the token: a positive one until the token expires (the
// TokenReview verified it; its exp claim is read here without verifying again), a negative one
// briefly and in a cache of its own, so that one report per pod per second costs one
// TokenReview per token lifetime and random tokens never evict valid ones. At most
// MaxConcurrentReviews reviews run at once, each with a timeout; a token that finds no free
// slot is answered ErrBusy at once. A
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

// Options tune the cache and the reviews.
type Options struct {
	// MaxEntries bounds the cache of accepted tokens; the least recently used entry goes
	// first. Default 16384.
	MaxEntries int
	// MaxNegativeEntries bounds the cache of refused tokens, kept apart so that a flood of
	// random tokens evicts only other refused ones, never a pod's valid token. Default 4096.
	MaxNegativeEntries int
	// NegativeTTL is how long a refused token stays refused without asking again. Default 10 s.
	NegativeTTL time.Duration
	// MaxTTL caps a positive entry when the token has no exp claim. Default 10 min.
	MaxTTL time.Duration
	// MaxConcurrentReviews bounds the TokenReviews in flight; a token that needs one while
	// they are all taken gets ErrBusy at once (the caller answers 503 with Retry-After), so a
	// flood of unknown tokens cannot queue up work. Default 8.
	MaxConcurrentReviews int
	// ReviewTimeout bounds one TokenReview. Default 5 s.
	ReviewTimeout time.Duration
}

// ErrBusy: every review slot is taken; retry later (503).
var ErrBusy = errors.New("too many token reviews in flight")

// Authenticator reviews tokens and caches the results.
type Authenticator struct {
	reviewer Reviewer
	clock    clock.PassiveClock
	opts     Options
	slots    chan struct{}

	mu            sync.Mutex
	valid, reject *cache
}

// New returns an Authenticator that asks reviewer.
func New(reviewer Reviewer, clk clock.PassiveClock, opts Options) *Authenticator {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 16384
	}
	if opts.MaxNegativeEntries <= 0 {
		opts.MaxNegativeEntries = 4096
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 10 * time.Second
	}
	if opts.MaxTTL <= 0 {
		opts.MaxTTL = 10 * time.Minute
	}
	if opts.MaxConcurrentReviews <= 0 {
		opts.MaxConcurrentReviews = 8
	}
	if opts.ReviewTimeout <= 0 {
		opts.ReviewTimeout = 5 * time.Second
	}
	return &Authenticator{
		reviewer: reviewer, clock: clk, opts: opts,
		slots: make(chan struct{}, opts.MaxConcurrentReviews),
		valid: newCache(opts.MaxEntries), reject: newCache(opts.MaxNegativeEntries),
	}
}

// Cached answers from the cache alone: ok is false when token needs a review.
func (a *Authenticator) Cached(token string) (id Identity, err error, ok bool) {
	key := sha256.Sum256([]byte(token))
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.valid.get(key, now)
	if e == nil {
		e = a.reject.get(key, now)
	}
	if e == nil {
		return Identity{}, nil, false
	}
	return e.id, e.err, true
}

// Authenticate returns the pod identity of token. Errors wrap ErrUnauthenticated for a token
// the API server refused; ErrBusy when no review slot is free; any other error is the review
// failing (the caller answers 503 to both).
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	if id, err, ok := a.Cached(token); ok {
		return id, err
	}
	key := sha256.Sum256([]byte(token))
	now := a.clock.Now()
	select {
	case a.slots <- struct{}{}:
	default:
		return Identity{}, ErrBusy
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.ReviewTimeout)
	id, err := a.review(ctx, token)
	cancel()
	<-a.slots
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil:
		expires := now.Add(a.opts.MaxTTL)
		if exp, ok := expiry(token); ok && exp.Before(expires) {
			expires = exp
		}
		a.valid.put(&entry{key: key, id: id, expires: expires})
	case errors.Is(err, ErrUnauthenticated):
		a.reject.put(&entry{key: key, err: err, expires: now.Add(a.opts.NegativeTTL)})
	}
	return id, err
}

// Len is the number of cached results, accepted and refused.
func (a *Authenticator) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.valid.lru.Len() + a.reject.lru.Len()
}

// cache is an LRU of review results by token hash with expiry; the caller locks.
type cache struct {
	max     int
	entries map[[32]byte]*list.Element
	lru     *list.List // of *entry, most recent first
}

type entry struct {
	key     [32]byte
	id      Identity
	err     error
	expires time.Time
}

func newCache(n int) *cache {
	return &cache{max: n, entries: map[[32]byte]*list.Element{}, lru: list.New()}
}

func (c *cache) get(key [32]byte, now time.Time) *entry {
	el, ok := c.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return nil
	}
	c.lru.MoveToFront(el)
	return e
}

func (c *cache) put(e *entry) {
	if el, ok := c.entries[e.key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*entry).key)
	}
	c.entries[e.key] = c.lru.PushFront(e)
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
