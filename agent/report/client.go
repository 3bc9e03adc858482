// Package report delivers the agent's reports to the scaler from a goroutine of its own, so
// that a slow or absent scaler never touches the data path: reports wait in a bounded buffer,
// are retried with jittered backoff, and are dropped (oldest first) and counted when it is
// full; after a 403 the client stays quiet for a while that doubles with every 403.
package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Path is where the scaler takes reports.
const Path = "/v1/reports"

// Options configure a Client.
type Options struct {
	// ScalerURL is the scaler's base URL, e.g. https://inferscale-scaler.inferscale.svc:8443.
	ScalerURL string
	// CAFile verifies the scaler's certificate; empty means the system roots. It is read
	// before every send and the roots replaced when its content changed, so a CA rotation
	// (the kubelet refreshing a projected trust bundle) needs no restart.
	CAFile string
	// TokenFile holds the bearer token; it is re-read for every send, as the kubelet
	// rotates projected tokens in place.
	TokenFile string
	// Buffer is how many reports wait while the scaler is away (default 60).
	Buffer int
	// Timeout bounds one send (default 5s).
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries (defaults 250ms and 10s).
	MinBackoff, MaxBackoff time.Duration
	Clock                  clock.Clock
	Log                    logr.Logger
	Registerer             prometheus.Registerer
}

// Client sends reports in order.
type Client struct {
	o      Options
	url    string
	queue  chan *reportv1.Report
	client atomic.Pointer[http.Client]
	caPEM  []byte // the content of CAFile the client trusts

	// dropped counts reports lost since the last delivered one; it rides on the next report.
	dropped atomic.Uint64

	sent         prometheus.Counter
	droppedFull  prometheus.Counter
	droppedRej   prometheus.Counter
	droppedQuiet prometheus.Counter
	failures     *prometheus.CounterVec

	// quiet is the current wait after a 403 and quietUntil its end; only the sender
	// goroutine uses them.
	quiet      time.Duration
	quietUntil time.Time
}

// New returns a Client; Run sends.
func New(o Options) (*Client, error) {
	if o.Buffer <= 0 {
		o.Buffer = 60
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if !strings.HasPrefix(o.ScalerURL, "https://") && !strings.HasPrefix(o.ScalerURL, "http://") {
		return nil, fmt.Errorf("scaler URL %q: want https://host[:port]", o.ScalerURL)
	}
	c := &Client{
		o:     o,
		url:   strings.TrimSuffix(o.ScalerURL, "/") + Path,
		queue: make(chan *reportv1.Report, o.Buffer),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "inferscale", Subsystem: "agent", Name: "reports_sent_total",
			Help: "Reports the scaler accepted.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "inferscale", Subsystem: "agent", Name: "report_send_failures_total",
			Help: "Failed attempts to send a report, by reason (network, status code, token).",
		}, []string{"reason"}),
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "inferscale", Subsystem: "agent", Name: "reports_dropped_total",
		Help: "Reports dropped: buffer_full while the scaler was away, rejected when it refused them, forbidden_backoff unsent after a 403.",
	}, []string{"reason"})
	c.droppedFull = dropped.WithLabelValues("buffer_full")
	c.droppedRej = dropped.WithLabelValues("rejected")
	c.droppedQuiet = dropped.WithLabelValues("forbidden_backoff")
	if o.Registerer != nil {
		o.Registerer.MustRegister(c.sent, dropped, c.failures)
	}
	// A CA file that is missing or empty at start is no reason to stop the agent (and with
	// it the pod): the kubelet may project the trust bundle later. Sends fail, counted with
	// reason "ca", until it is there.
	if _, err := c.httpClient(); err != nil {
		o.Log.Error(err, "No CA to trust the scaler with yet; reports wait for it")
	}
	return c, nil
}

// Enqueue hands a report over without blocking. When the buffer is full the oldest report
// is dropped: the newest says most about the pod now.
func (c *Client) Enqueue(r *reportv1.Report) {
	for {
		select {
		case c.queue <- r:
			return
		default:
		}
		select {
		case <-c.queue:
			c.drop(c.droppedFull)
		default:
		}
	}
}

func (c *Client) drop(counter prometheus.Counter) {
	c.dropped.Add(1)
	counter.Inc()
}

// Run sends reports until ctx ends, then tries for up to the send timeout to deliver what
// is still buffered (the last interval before a drain).
func (c *Client) Run(ctx context.Context) {
	for {
		select {
		case r := <-c.queue:
			c.deliver(ctx, r)
		case <-ctx.Done():
			c.flush()
			return
		}
	}
}

func (c *Client) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	for {
		select {
		case r := <-c.queue:
			if c.send(ctx, r) != nil {
				return
			}
		default:
			return
		}
	}
}

// deliver sends r, retrying with exponential backoff until it is accepted, refused for good,
// or ctx ends. Newer reports keep queueing meanwhile; if the buffer overflows, the oldest
// ones go.
func (c *Client) deliver(ctx context.Context, r *reportv1.Report) {
	if c.o.Clock.Now().Before(c.quietUntil) {
		// The scaler said 403 (no policy scales this pod, or it is gone): asking again
		// every second would only cost it a review and an attribution each time.
		c.drop(c.droppedQuiet)
		return
	}
	backoff := c.o.MinBackoff
	for attempt := 1; ; attempt++ {
		err := c.send(ctx, r)
		if err == nil {
			c.quiet = 0
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			c.drop(c.droppedRej)
			if perm.status == http.StatusForbidden {
				c.quiet = min(max(2*c.quiet, c.o.MinBackoff), MaxForbiddenBackoff)
				c.quietUntil = c.o.Clock.Now().Add(jitter(c.quiet))
			}
			c.o.Log.Error(err, "scaler refused a report; dropped it", "quietFor", c.quiet.String())
			return
		}
		if ctx.Err() != nil {
			c.Enqueue(r) // give it to the final flush
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			c.o.Log.Info("report not delivered; retrying", "attempt", attempt, "backoff", backoff.String(), "err", err.Error())
		}
		t := c.o.Clock.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			c.Enqueue(r) // give it to the final flush
			return
		case <-t.C():
		}
		backoff = min(backoff*2, c.o.MaxBackoff)
	}
}

// MaxForbiddenBackoff bounds how long the client stays quiet after the scaler answered 403:
// the wait doubles from MinBackoff with every 403 and resets on the first accepted report, so
// a pod whose policy is created later reports within a minute.
const MaxForbiddenBackoff = time.Minute

// jitter returns a duration in [d/2, d], so that the agents of many pods that lost the
// scaler at once do not come back in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// permanentError is a failure retrying cannot fix: the scaler answered 400, 403 or 413
// (status), or the report does not encode.
type permanentError struct {
	err    error
	status int
}

func (e *permanentError) Error() string { return e.err.Error() }

func (c *Client) send(ctx context.Context, r *reportv1.Report) error {
	token, err := os.ReadFile(c.o.TokenFile)
	if err != nil {
		c.failures.WithLabelValues("token").Inc()
		return fmt.Errorf("reading token file: %w", err)
	}
	hc, err := c.httpClient()
	if err != nil {
		c.failures.WithLabelValues("ca").Inc()
		return err
	}
	dropped := c.dropped.Load()
	r.DroppedReports = dropped
	var body bytes.Buffer
	if err := reportv1.Encode(&body, r); err != nil {
		return &permanentError{err: fmt.Errorf("encoding report: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return fmt.Errorf("report request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	res, err := hc.Do(req)
	if err != nil {
		c.failures.WithLabelValues("network").Inc()
		return fmt.Errorf("sending report: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	res.Body.Close()
	switch {
	case res.StatusCode/100 == 2:
		c.dropped.Add(-dropped) // what this report carried is told; later drops remain
		c.sent.Inc()
		return nil
	case res.StatusCode == http.StatusBadRequest || res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusRequestEntityTooLarge:
		c.failures.WithLabelValues(fmt.Sprint(res.StatusCode)).Inc()
		return &permanentError{err: fmt.Errorf("scaler answered %d: %s", res.StatusCode, bytes.TrimSpace(msg)), status: res.StatusCode}
	default:
		// 401 (a token the kubelet is about to rotate), 429, 5xx: try again.
		c.failures.WithLabelValues(fmt.Sprint(res.StatusCode)).Inc()
		return fmt.Errorf("scaler answered %d: %s", res.StatusCode, bytes.TrimSpace(msg))
	}
}

// httpClient returns the client, rebuilt when the CA file's content changed. Only the sender
// goroutine (and New) call it.
func (c *Client) httpClient() (*http.Client, error) {
	hc := c.client.Load()
	if c.o.CAFile == "" {
		if hc != nil {
			return hc, nil
		}
		return c.newClient(nil), nil
	}
	pem, err := os.ReadFile(c.o.CAFile)
	if err != nil {
		if hc != nil {
			return hc, nil // keep the last good CA while the file is being replaced
		}
		return nil, fmt.Errorf("CA file: %w", err)
	}
	if hc != nil && bytes.Equal(pem, c.caPEM) {
		return hc, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		if hc != nil {
			return hc, nil
		}
		return nil, fmt.Errorf("CA file %s: no PEM certificate", c.o.CAFile)
	}
	if hc != nil {
		c.o.Log.Info("CA file changed; trusting its certificates from now on", "file", c.o.CAFile)
	}
	c.caPEM = pem
	return c.newClient(pool), nil
}

func (c *Client) newClient(roots *x509.CertPool) *http.Client {
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: c.o.Timeout,
	}}
	if old := c.client.Swap(hc); old != nil {
		old.CloseIdleConnections()
	}
	return hc
}
