// Package ingest serves POST /v1/reports: it authenticates the agent's token, decodes and
// validates the report, checks that the token is the reported pod's own, rate-limits per pod,
// attributes the pod to a target through the API server's view, and records the report.
//
// Answers: 202 accepted; 400 malformed or invalid (naming the field) or of another version;
// 401 no or invalid token; 403 a token of another pod, or a pod no policy scales; 405 not a
// POST; 413 too large; 429 over the per-pod rate; 503 this replica is not the leader, or a
// dependency (TokenReview, cache) failed — with Retry-After, so agents retry (the report
// Service selects the leader, so a retry reaches it once endpoints converge).
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
	"github.com/inferscale/inferscale/scaler/attribution"
	"github.com/inferscale/inferscale/scaler/auth"
	"github.com/inferscale/inferscale/scaler/target"
	"github.com/inferscale/inferscale/scaler/window"
)

// Path is where reports are posted.
const Path = "/v1/reports"

// Authenticator turns a bearer token into the identity of the pod it is bound to. Cached
// answers without a review (ok false: it needs one).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (auth.Identity, error)
	Cached(token string) (id auth.Identity, err error, ok bool)
}

// Attributor finds the target that scales a pod.
type Attributor interface {
	Resolve(ctx context.Context, namespace, name, uid string) (target.Key, error)
}

// Recorder keeps a report in its target's windows.
type Recorder interface {
	Record(k target.Key, p window.Pod, r *reportv1.Report) error
}

// Options configure a Handler. Every field but the rates is required.
type Options struct {
	Auth       Authenticator
	Attributor Attributor
	Store      Recorder
	// IsLeader says whether this replica decides; followers answer 503.
	IsLeader func() bool
	Clock    clock.PassiveClock
	Metrics  *Metrics
	Log      logr.Logger
	// Rate and Burst bound the reports per pod. An agent sends one per second and retries
	// a failed one, so the default (5/s, burst 10) only stops a misbehaving agent.
	Rate  rate.Limit
	Burst int
	// SourceRate and SourceBurst bound, per source IP address, the requests whose token is
	// not cached and so would cost a TokenReview: checked before it. A pod's agent needs one
	// review per token lifetime; pods behind one address (SNAT) share it. Default 20/s, 40.
	SourceRate  rate.Limit
	SourceBurst int
}

// MaxClockSkew is how far a report's interval end may lie from the scaler's clock: an agent
// retries a report for a few seconds at most, and nodes' clocks agree far better than this.
const MaxClockSkew = 2 * time.Minute

// Handler is the report endpoint.
type Handler struct {
	opts    Options
	pods    *limiters // by pod UID
	sources *limiters // by source IP address
}

// New returns a Handler.
func New(opts Options) *Handler {
	if opts.Rate == 0 {
		opts.Rate = 5
	}
	if opts.Burst == 0 {
		opts.Burst = 10
	}
	if opts.SourceRate == 0 {
		opts.SourceRate = 20
	}
	if opts.SourceBurst == 0 {
		opts.SourceBurst = 40
	}
	return &Handler{
		opts:    opts,
		pods:    newLimiters(opts.Rate, opts.Burst),
		sources: newLimiters(opts.SourceRate, opts.SourceBurst),
	}
}

// refusal is an answer other than 202, with the reason label of the refused-reports metric.
type refusal struct {
	status     int
	reason     string
	msg        string
	retryAfter bool
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Clock.Now()
	ref := h.serve(r)
	if ref == nil {
		w.WriteHeader(http.StatusAccepted)
		h.opts.Metrics.observe("accepted", "", h.opts.Clock.Since(start))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if ref.retryAfter {
		w.Header().Set("Retry-After", "1")
	}
	if ref.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(ref.status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{ref.msg})
	h.opts.Metrics.observe("refused", ref.reason, h.opts.Clock.Since(start))
}

func (h *Handler) serve(r *http.Request) *refusal {
	if r.Method != http.MethodPost {
		return &refusal{status: http.StatusMethodNotAllowed, reason: "method", msg: "reports are POSTed"}
	}
	if !h.opts.IsLeader() {
		return &refusal{status: http.StatusServiceUnavailable, reason: "not_leader", msg: "this scaler replica is not the leader; retry", retryAfter: true}
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return &refusal{status: http.StatusUnauthorized, reason: "unauthenticated", msg: "an Authorization: Bearer token is required"}
	}
	id, err, cached := h.opts.Auth.Cached(token)
	if !cached {
		// Only a token the cache does not know costs a review: bound those per source
		// before asking, so that no source can spend the API server's time at will.
		if !h.sources.allow(sourceOf(r), h.opts.Clock.Now()) {
			return &refusal{status: http.StatusTooManyRequests, reason: "source_rate_limited", msg: fmt.Sprintf("more than %v unknown tokens per second from %s", h.opts.SourceRate, sourceOf(r)), retryAfter: true}
		}
		id, err = h.opts.Auth.Authenticate(r.Context(), token)
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return &refusal{status: http.StatusUnauthorized, reason: "unauthenticated", msg: err.Error()}
	case errors.Is(err, auth.ErrBusy):
		return &refusal{status: http.StatusServiceUnavailable, reason: "token_review_busy", msg: "too many token reviews in flight; retry", retryAfter: true}
	case err != nil:
		h.opts.Log.Error(err, "Token review failed")
		return &refusal{status: http.StatusServiceUnavailable, reason: "token_review_failed", msg: "cannot review the token now; retry", retryAfter: true}
	}
	// Rate-limit by the authenticated pod before decoding, so a flood costs little.
	if !h.pods.allow(id.PodUID, h.opts.Clock.Now()) {
		return &refusal{status: http.StatusTooManyRequests, reason: "rate_limited", msg: fmt.Sprintf("more than %v reports per second from pod %s/%s", h.opts.Rate, id.Namespace, id.PodName), retryAfter: true}
	}
	if r.ContentLength > reportv1.MaxReportBytes {
		return &refusal{status: http.StatusRequestEntityTooLarge, reason: "too_large", msg: reportv1.ErrTooLarge.Error()}
	}
	rep, err := reportv1.Decode(r.Body)
	if err == nil {
		err = rep.CheckAge(h.opts.Clock.Now(), MaxClockSkew)
	}
	if err != nil {
		return decodeRefusal(err)
	}
	for _, f := range rep.Clamp() {
		h.opts.Metrics.clamped.WithLabelValues(f).Inc()
	}
	if err := id.Authorize(rep.Pod.Namespace, rep.Pod.Name, rep.Pod.UID); err != nil {
		return &refusal{status: http.StatusForbidden, reason: "wrong_pod", msg: err.Error()}
	}
	key, err := h.opts.Attributor.Resolve(r.Context(), rep.Pod.Namespace, rep.Pod.Name, rep.Pod.UID)
	switch {
	case errors.Is(err, attribution.ErrPodNotFound):
		return &refusal{status: http.StatusForbidden, reason: "pod_not_found", msg: err.Error()}
	case errors.Is(err, attribution.ErrNotScaled):
		return &refusal{status: http.StatusForbidden, reason: "not_scaled", msg: err.Error()}
	case errors.Is(err, attribution.ErrUnverified):
		return &refusal{status: http.StatusForbidden, reason: "owner_unverified", msg: err.Error()}
	case err != nil:
		h.opts.Log.Error(err, "Attributing a report failed", "namespace", rep.Pod.Namespace, "pod", rep.Pod.Name)
		return &refusal{status: http.StatusServiceUnavailable, reason: "attribution_failed", msg: "cannot attribute the pod now; retry", retryAfter: true}
	}
	switch err := h.opts.Store.Record(key, window.Pod{Name: rep.Pod.Name, UID: rep.Pod.UID}, rep); {
	case errors.Is(err, window.ErrMemoryLimit):
		// Safe to retry: memory is freed as pods age out and policies go.
		return &refusal{status: http.StatusServiceUnavailable, reason: "memory_limit", msg: err.Error(), retryAfter: true}
	case err != nil:
		// The target's policy exists but its first decision has not configured the store yet.
		return &refusal{status: http.StatusServiceUnavailable, reason: "target_not_ready", msg: err.Error(), retryAfter: true}
	}
	h.opts.Metrics.agentDropped.Add(float64(rep.DroppedReports))
	return nil
}

func decodeRefusal(err error) *refusal {
	var fe *reportv1.FieldError
	switch {
	case errors.Is(err, reportv1.ErrTooLarge):
		return &refusal{status: http.StatusRequestEntityTooLarge, reason: "too_large", msg: err.Error()}
	case errors.As(err, &fe) && fe.Field == "apiVersion":
		return &refusal{status: http.StatusBadRequest, reason: "version", msg: "unsupported report version: " + fe.Detail + "; this scaler accepts " + reportv1.APIVersion}
	case errors.As(err, &fe):
		return &refusal{status: http.StatusBadRequest, reason: "invalid", msg: "invalid report: " + err.Error()}
	default:
		return &refusal{status: http.StatusBadRequest, reason: "malformed", msg: err.Error()}
	}
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// sourceOf is the IP address a request came from.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters are token buckets by key, dropped after limiterIdle without use. At most
// maxLimiters are kept; past that, new keys share one bucket, so a flood of distinct keys
// costs no memory.
type limiters struct {
	rate  rate.Limit
	burst int

	mu       sync.Mutex
	byKey    map[string]*keyLimiter
	overflow *rate.Limiter
	swept    time.Time
}

type keyLimiter struct {
	lim  *rate.Limiter
	last time.Time
}

const (
	// limiterIdle is how long a key's limiter is kept without use.
	limiterIdle = time.Minute
	maxLimiters = 1 << 16
)

func newLimiters(r rate.Limit, burst int) *limiters {
	return &limiters{rate: r, burst: burst, byKey: map[string]*keyLimiter{}, overflow: rate.NewLimiter(r, burst)}
}

func (l *limiters) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterIdle {
		for k, kl := range l.byKey {
			if now.Sub(kl.last) > limiterIdle {
				delete(l.byKey, k)
			}
		}
		l.swept = now
	}
	kl := l.byKey[key]
	if kl == nil {
		if len(l.byKey) >= maxLimiters {
			return l.overflow.AllowN(now, 1)
		}
		kl = &keyLimiter{lim: rate.NewLimiter(l.rate, l.burst)}
		l.byKey[key] = kl
	}
	kl.last = now
	return kl.lim.AllowN(now, 1)
}
