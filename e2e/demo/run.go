// Package demo runs inferscale's showcase on a cluster where inferscale is
// installed: an LLM-like model server opted in for the agent, a latency and
// queue-depth policy, and an open-loop load profile driven from inside the
// cluster. It samples what happens, prints a line every few seconds, and
// returns the samples for a chart and a summary. `make demo` and the e2e
// scaling test both run it, with different profiles.
package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/internal/loadprofile"
)

// Options configure one run.
type Options struct {
	// Kubeconfig and Kubectl reach the cluster; manifests are applied with
	// kubectl as a user would.
	Kubeconfig string
	Kubectl    string
	Namespace  string
	// ModelImage and LoadgenImage are images present on the nodes.
	ModelImage   string
	LoadgenImage string
	// Profile is the loadgen profile, e.g. "20s@2,40s@60,30s@200,40s@20,60s@0".
	Profile string
	// TargetP99 is the policy's latency target.
	TargetP99 time.Duration
	// Settle is how long to keep sampling after the load ends, for the scale-down.
	Settle time.Duration
	// PrintEvery is how often a progress line is printed to Progress.
	PrintEvery time.Duration
	Progress   io.Writer
}

// Result is what a run observed.
type Result struct {
	Samples  []Sample
	Manifest string // the YAML the demo applied
}

const (
	appName     = "llm"
	loadgenName = "loadgen"
)

var manifest = template.Must(template.New("demo").Parse(`apiVersion: v1
kind: Namespace
metadata:
  name: {{.Namespace}}
---
# An LLM-like model server: 4 requests at a time, 50ms each, tokens streamed.
# The annotation opts its pods in for the inferscale agent sidecar.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{.App}}
  namespace: {{.Namespace}}
  annotations:
    inferscale.io/inject: "true"
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{.App}}}
  template:
    metadata:
      labels: {app: {{.App}}}
      annotations:
        inferscale.io/model-metrics-path: /metrics
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: model
        image: {{.ModelImage}}
        imagePullPolicy: IfNotPresent
        args: ["-listen=:8000", "-service-time=50ms", "-concurrency=4", "-tokens=8"]
        ports:
        - {name: http, containerPort: 8000}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 2
        resources:
          requests: {cpu: 50m, memory: 32Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: {{.App}}
  namespace: {{.Namespace}}
spec:
  selector: {app: {{.App}}}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata:
  name: {{.App}}
  namespace: {{.Namespace}}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: {{.App}}}
  minReplicas: 1
  maxReplicas: 6
  stableWindowSeconds: 20
  metrics:
  - type: Latency
    latency: {percentile: 99, target: {{.Target}}}
  - type: QueueDepth
    queueDepth: {averageValue: 4}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
    scaleDown:
      stabilizationWindowSeconds: 30
      policies: [{type: Pods, value: 1, periodSeconds: 10}]
  burst: {threshold: 200, windowSeconds: 4}
`))

// Render returns the YAML the demo applies.
func Render(o Options) (string, error) {
	var b bytes.Buffer
	err := manifest.Execute(&b, map[string]string{
		"Namespace": o.Namespace, "App": appName, "ModelImage": o.ModelImage, "Target": o.TargetP99.String(),
	})
	return b.String(), err
}

// Run deploys the demo workload, drives the load profile and samples until
// the profile and the settle time are over.
func Run(ctx context.Context, o Options, cs kubernetes.Interface, c client.Client) (*Result, error) {
	yaml, err := Render(o)
	if err != nil {
		return nil, fmt.Errorf("render demo manifest: %w", err)
	}
	res := &Result{Manifest: yaml}
	if err := kubectlApply(ctx, o, yaml); err != nil {
		return res, err
	}
	if err := waitReady(ctx, cs, o.Namespace, 3*time.Minute); err != nil {
		return res, err
	}
	svc, err := cs.CoreV1().Services(o.Namespace).Get(ctx, appName, metav1.GetOptions{})
	if err != nil {
		return res, fmt.Errorf("get service %s/%s: %w", o.Namespace, appName, err)
	}
	url := fmt.Sprintf("http://%s/v1/completions", svc.Spec.ClusterIP)
	if err := startLoadgen(ctx, cs, o, url); err != nil {
		return res, err
	}

	stats := &latestStats{}
	logsDone := make(chan error, 1)
	go func() { logsDone <- followLoadgen(ctx, cs, o.Namespace, stats) }()

	profileLen, err := profileDuration(o.Profile)
	if err != nil {
		return res, err
	}
	start := time.Now()
	end := start.Add(profileLen + o.Settle)
	lastPrint := time.Time{}
	printHeader(o.Progress)
	for now := start; now.Before(end); now = time.Now() {
		s, err := sample(ctx, cs, c, o.Namespace, stats)
		if err != nil {
			return res, err
		}
		s.T = now.Sub(start).Seconds()
		res.Samples = append(res.Samples, s)
		if now.Sub(lastPrint) >= o.PrintEvery {
			printLine(o.Progress, s)
			lastPrint = now
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	select {
	case err := <-logsDone:
		if err != nil {
			return res, err
		}
	default:
	}
	return res, nil
}

func kubectlApply(ctx context.Context, o Options, yaml string) error {
	cmd := exec.CommandContext(ctx, o.Kubectl, "--kubeconfig", o.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply the demo workload: %w: %s", err, out)
	}
	return nil
}

func waitReady(ctx context.Context, cs kubernetes.Interface, ns string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, appName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Status.ReadyReplicas >= 1, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s did not become ready: %w", ns, appName, err)
	}
	return nil
}

func startLoadgen(ctx context.Context, cs kubernetes.Interface, o Options, url string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: loadgenName, Namespace: o.Namespace, Labels: map[string]string{"app": loadgenName}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:            loadgenName,
				Image:           o.LoadgenImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            []string{"-url=" + url, "-profile=" + o.Profile},
			}},
		},
	}
	err := cs.CoreV1().Pods(o.Namespace).Delete(ctx, loadgenName, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete old loadgen pod: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("create loadgen pod: %w", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(o.Namespace).Get(ctx, loadgenName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded, nil
	})
	if err != nil {
		return fmt.Errorf("loadgen pod did not start: %w", err)
	}
	return nil
}

// latestStats holds the loadgen's most recent per-second line.
type latestStats struct {
	mu   sync.Mutex
	last loadSecond
	at   time.Time
}

type loadSecond struct {
	Offered float64 `json:"offered"`
	P99Ms   float64 `json:"p99_ms"`
}

// get returns the latest line, or nothing once the loadgen has stopped
// printing: its last line must not stand for the idle time after the load.
func (l *latestStats) get(now time.Time) loadSecond {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.at) > 3*time.Second {
		return loadSecond{}
	}
	return l.last
}

func followLoadgen(ctx context.Context, cs kubernetes.Interface, ns string, stats *latestStats) error {
	stream, err := cs.CoreV1().Pods(ns).GetLogs(loadgenName, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("follow loadgen logs: %w", err)
	}
	defer stream.Close()
	sc := bufio.NewScanner(stream)
	for sc.Scan() {
		var s loadSecond
		if json.Unmarshal(sc.Bytes(), &s) != nil {
			continue
		}
		stats.mu.Lock()
		stats.last, stats.at = s, time.Now()
		stats.mu.Unlock()
	}
	return nil
}

func sample(ctx context.Context, cs kubernetes.Interface, c client.Client, ns string, stats *latestStats) (Sample, error) {
	load := stats.get(time.Now())
	s := Sample{OfferedRPS: load.Offered, P99Ms: load.P99Ms}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, appName, metav1.GetOptions{})
	if err != nil {
		return s, fmt.Errorf("get deployment %s/%s: %w", ns, appName, err)
	}
	s.Ready = d.Status.ReadyReplicas
	s.Desired = d.Status.Replicas
	if d.Spec.Replicas != nil {
		s.Desired = *d.Spec.Replicas
	}
	var p v1alpha1.AutoscalingPolicy
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: appName}, &p); err != nil {
		return s, fmt.Errorf("get policy %s/%s: %w", ns, appName, err)
	}
	for _, m := range p.Status.CurrentMetrics {
		if m.Type == v1alpha1.QueueDepthMetricType {
			fmt.Sscanf(m.Current, "%g", &s.QueuePerReplica)
		}
	}
	s.Reason = statusReason(&p)
	return s, nil
}

// statusReason is the scaler's current reason, from the policy's status: what AbleToScale
// says (ready for a new scale, a stabilization window holding, burst mode, a conflict), the
// metric that drove the last decision, and a limit the count ran into. Events would repeat
// the last rescale for as long as nothing else happens.
func statusReason(p *v1alpha1.AutoscalingPolicy) string {
	var parts []string
	if c := apimeta.FindStatusCondition(p.Status.Conditions, v1alpha1.AbleToScale); c != nil {
		parts = append(parts, c.Message)
	}
	if c := apimeta.FindStatusCondition(p.Status.Conditions, v1alpha1.ScalingActive); c != nil && c.Status == metav1.ConditionFalse {
		parts = append(parts, c.Message)
	}
	if c := apimeta.FindStatusCondition(p.Status.Conditions, v1alpha1.ScalingLimited); c != nil && c.Status == metav1.ConditionTrue {
		parts = append(parts, c.Message)
	}
	if p.Status.DrivingMetric != "" {
		parts = append(parts, "driven by "+p.Status.DrivingMetric)
	}
	return strings.Join(parts, "; ")
}

func profileDuration(spec string) (time.Duration, error) {
	p, err := loadprofile.Parse(spec)
	if err != nil {
		return 0, fmt.Errorf("load profile: %w", err)
	}
	return p.Duration(), nil
}

func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%6s %8s %9s %11s %7s %5s  %s\n", "time", "offered", "p99", "queue/pod", "desired", "ready", "scaler's reason")
}

func printLine(w io.Writer, s Sample) {
	fmt.Fprintf(w, "%5.0fs %6.0f/s %7.0fms %11.1f %7d %5d  %s\n", s.T, s.OfferedRPS, s.P99Ms, s.QueuePerReplica, s.Desired, s.Ready, s.Reason)
}
