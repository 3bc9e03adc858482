//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/inferscale/inferscale/webhook/inject"
	"github.com/inferscale/inferscale/webhook/optin"
)

const (
	latencyRate     = 100 // pod creations per second
	latencyDuration = 5 * time.Second
)

// Admission latency at 100 pod creations/s: opted-in pods of a ReplicaSet (so the webhook
// walks ReplicaSet → Deployment in its cache) are created as server-side dry runs, which
// run every admission webhook without flooding the node with 500 pods. It prints p50/p99 of
// the create call as the client sees it, of the same pods where the injector is not called
// (a baseline: the API server alone), and the API server's own histogram of the injector
// call. It asserts only that every pod was injected; the numbers are for the record.
func TestWebhookAdmissionLatency(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	ctx := t.Context()
	createDeployment(t, ns, modelDeployment("latency", 0, map[string]string{optin.AnnotationInject: "true"}, nil))
	var rsName string
	var rsUID types.UID
	var rsLabels map[string]string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := testCluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=latency"})
		if err != nil || len(list.Items) == 0 {
			return false, err
		}
		rsName, rsUID, rsLabels = list.Items[0].Name, list.Items[0].UID, list.Items[0].Spec.Template.Labels
		return true, nil
	})
	if err != nil {
		t.Fatalf("the Deployment's ReplicaSet: %v", err)
	}
	// The pod as the ReplicaSet controller makes it (its template's labels, pod-template-hash
	// included), so the webhook verifies the owner chain as it does for real pods.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: rsName + "-", Labels: rsLabels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsName, UID: rsUID, Controller: ptr.To(true)}}},
		Spec: modelPodSpec(),
	}
	cfg := rest.CopyConfig(testCluster.Config)
	cfg.QPS, cfg.Burst = 2*latencyRate, 2*latencyRate
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	before := webhookHistogram(t)
	injected := openLoop(t, cs, ns, pod, true)
	after := webhookHistogram(t)
	// The injector is not called in kube-system (its namespaceSelector), where no Pod
	// Security profile is enforced either.
	bare := pod.DeepCopy()
	bare.OwnerReferences = nil
	baseline := openLoop(t, cs, metav1.NamespaceSystem, bare, false)

	t.Logf("admission latency at %d pod creations/s for %s (server-side dry run, client-observed):", latencyRate, latencyDuration)
	t.Logf("  with the injector:    %s", injected)
	t.Logf("  without (baseline):   %s", baseline)
	t.Logf("  API server histogram of the injector call: %s", histogramSummary(before, after))
}

type latencies []time.Duration

func (l latencies) String() string {
	if len(l) == 0 {
		return "no samples"
	}
	s := slices.Clone(l)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(s), q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// openLoop creates pod (dry run) latencyRate times a second for latencyDuration, each
// call on its own goroutine so a slow answer does not lower the rate, and returns the
// call latencies. With wantInjected, every answer must carry the agent.
func openLoop(t *testing.T, cs kubernetes.Interface, ns string, pod *corev1.Pod, wantInjected bool) latencies {
	t.Helper()
	ctx := t.Context()
	pods := cs.CoreV1().Pods(ns)
	n := int(latencyDuration.Seconds() * latencyRate)
	var (
		mu     sync.Mutex
		out    latencies
		failed []string
		wg     sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / latencyRate)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			created, err := pods.Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed = append(failed, err.Error())
			case wantInjected && created.Annotations[inject.AnnotationStatus] == "":
				failed = append(failed, "created without the agent")
			default:
				out = append(out, d)
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of %d creations in %s failed, first: %s", len(failed), n, ns, failed[0])
	}
	return out
}

// histogram is the cumulative bucket counts (by upper bound) of the API server's
// apiserver_admission_webhook_admission_duration_seconds for the injector's pod CREATEs.
type histogram map[float64]float64

func webhookHistogram(t *testing.T) histogram {
	t.Helper()
	raw := kubectl(t, "get", "--raw", "/metrics")
	h := histogram{}
	for _, line := range strings.Split(raw, "\n") {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_admission_duration_seconds_bucket{") ||
			!strings.Contains(line, `name="inject.inferscale.io"`) || !strings.Contains(line, `operation="CREATE"`) {
			continue
		}
		i := strings.Index(line, `le="`)
		j := strings.LastIndex(line, " ")
		if i < 0 || j < 0 {
			continue
		}
		le, err1 := strconv.ParseFloat(strings.SplitN(line[i+4:], `"`, 2)[0], 64)
		v, err2 := strconv.ParseFloat(line[j+1:], 64)
		if err1 == nil && err2 == nil {
			h[le] += v
		}
	}
	return h
}

// histogramSummary estimates p50 and p99 of the observations between two scrapes by
// linear interpolation inside the buckets (the API server's buckets are coarse: 5 ms,
// 25 ms, 100 ms, ...).
func histogramSummary(before, after histogram) string {
	var bounds []float64
	for le := range after {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return "no observations"
	}
	delta := func(le float64) float64 { return after[le] - before[le] }
	total := delta(bounds[len(bounds)-1])
	if total <= 0 {
		return "no observations"
	}
	quantile := func(q float64) string {
		rank := q * total
		prevBound, prevCount := 0.0, 0.0
		for _, le := range bounds {
			c := delta(le)
			if c >= rank {
				if math.IsInf(le, 1) {
					return fmt.Sprintf("> %gs", prevBound)
				}
				frac := (rank - prevCount) / math.Max(c-prevCount, 1)
				return (time.Duration((prevBound + frac*(le-prevBound)) * float64(time.Second))).Round(10 * time.Microsecond).String()
			}
			prevBound, prevCount = le, c
		}
		return "?"
	}
	return fmt.Sprintf("n=%.0f p50≈%s p99≈%s (bucket-interpolated)", total, quantile(0.5), quantile(0.99))
}
