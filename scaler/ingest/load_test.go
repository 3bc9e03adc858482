package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/inferscale/inferscale/scaler/auth"
	"github.com/inferscale/inferscale/scaler/window"
)

// podReviewer is a TokenReview fake: token "tok-<pod>" is bound to pod <pod> of namespace ai.
type podReviewer struct{}

func (podReviewer) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	out := tr.DeepCopy()
	pod := tr.Spec.Token[len("tok-"):]
	out.Status = authnv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     []string{auth.Audience},
		User: authnv1.UserInfo{
			Username: "system:serviceaccount:ai:default",
			Extra:    map[string]authnv1.ExtraValue{auth.ExtraPodName: {pod}, auth.ExtraPodUID: {"uid-" + pod}},
		},
	}
	return out, nil
}

// BenchmarkLoopback is the ingestion load test: agents POST real reports over HTTPS with
// keep-alive to the handler behind an httptest TLS server, with the real token cache (a fake
// TokenReview behind it), the real store and a fake attribution. Client and server share the
// machine's cores, so reports/s/core understates what a scaler alone sustains.
func BenchmarkLoopback(b *testing.B) {
	store := window.NewStore(clock.RealClock{})
	store.Configure(key, window.Config{Window: time.Minute, Latency: true})
	h := New(Options{
		Auth:       auth.New(podReviewer{}, clock.RealClock{}, auth.Options{}),
		Attributor: fakeAttributor{},
		Store:      store,
		IsLeader:   func() bool { return true },
		Clock:      clock.RealClock{},
		Metrics:    NewMetrics(prometheus.NewRegistry()),
		Log:        logr.Discard(),
		Rate:       1e9, Burst: 1e9,
	})
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 256

	var next atomic.Int64
	b.SetParallelism(8) // 8 agents per core, each its own pod and connection pool entry
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		pod := fmt.Sprintf("pod-%d", next.Add(1))
		body := encode(b, validReport(pod))
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+Path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer tok-"+pod)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	perSec := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(perSec, "reports/s")
	b.ReportMetric(perSec/float64(runtime.GOMAXPROCS(0)), "reports/s/core")
}
