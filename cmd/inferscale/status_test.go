package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/internal/apiservertest"
)

func statusPolicy() *v1alpha1.AutoscalingPolicy {
	return &v1alpha1.AutoscalingPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ai", Name: "llama"},
		Spec: v1alpha1.AutoscalingPolicySpec{
			TargetRef:   v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "llama"},
			MinReplicas: ptr.To[int32](2),
			MaxReplicas: 10,
			Metrics:     []v1alpha1.MetricSpec{{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("4")}}},
		},
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	p := statusPolicy()
	p.Annotations = map[string]string{v1alpha1.RecommendOnlyAnnotation: "true"}
	p.Status = v1alpha1.AutoscalingPolicyStatus{
		CurrentReplicas: 3, DesiredReplicas: 5, DrivingMetric: "QueueDepth",
		LastScaleTime:  &metav1.Time{Time: now.Add(-2 * time.Minute)},
		CurrentMetrics: []v1alpha1.MetricStatus{{Type: v1alpha1.QueueDepthMetricType, Current: "6", Target: "4", RecommendedReplicas: 5}},
		Conditions: []metav1.Condition{
			{Type: v1alpha1.ScalingLimited, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonDesiredWithinRange, Message: "within", LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},
			{Type: v1alpha1.AbleToScale, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRecommendOnly, Message: "would scale\n3 → 5", LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))},
			{Type: v1alpha1.Ready, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRecommendOnly, Message: "would scale 3 → 5", LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))},
		},
	}
	events := []corev1.Event{
		{Type: "Normal", Reason: "Recommendation", Message: "would scale to 5", LastTimestamp: metav1.NewTime(now.Add(-30 * time.Second))},
		{Type: "Warning", Reason: v1alpha1.ReasonHPAConflict, Message: "held for 30s: old-hpa", Count: 3, LastTimestamp: metav1.NewTime(now.Add(-10 * time.Minute))},
	}
	var out bytes.Buffer
	printStatus(&out, p, events, now)
	got := out.String()
	for _, want := range []string{
		"AutoscalingPolicy ai/llama scales Deployment llama (apps/v1), 2..10 replicas",
		"Mode:      recommend-only (inferscale.io/recommend-only): nothing is written",
		"Replicas:  current 3, desired 5, last scaled 2m ago",
		"QueueDepth",
		"would scale 3 → 5", // a message on one line
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Ready first, then HPA's order; events oldest first.
	if !(strings.Index(got, "  Ready") < strings.Index(got, "  AbleToScale") && strings.Index(got, "  AbleToScale") < strings.Index(got, "  ScalingLimited")) {
		t.Errorf("conditions out of order:\n%s", got)
	}
	if i, j := strings.Index(got, "HorizontalPodAutoscalerConflict"), strings.Index(got, "Recommendation "); i < 0 || j < 0 || i > j || !strings.Contains(got, "held for 30s: old-hpa (×3)") {
		t.Errorf("events not oldest first with their count:\n%s", got)
	}
}

// status reads the policy and only its own Events from a real API server,
// through a kubeconfig as a user has one.
func TestStatusAgainstAnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server; skipped in -short")
	}
	cfg := apiservertest.Start(t, filepath.Join("..", "..", "manifests", "crd", "bases"))
	scheme, err := cliScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ai"}}); err != nil {
		t.Fatal(err)
	}
	p := statusPolicy()
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	event := func(name, kind, objName string, uid types.UID, msg string) {
		t.Helper()
		e := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "ai", Name: name},
			InvolvedObject: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind, Namespace: "ai", Name: objName, UID: uid},
			Type:           corev1.EventTypeNormal, Reason: "SuccessfulRescale", Message: msg,
			LastTimestamp: metav1.Now(), FirstTimestamp: metav1.Now(), Count: 1,
			Source: corev1.EventSource{Component: "inferscale-scaler"},
		}
		if err := c.Create(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	event("mine", "AutoscalingPolicy", "llama", p.UID, "New size: 4; reason: queue depth 6 > 4")
	event("deleted-namesake", "AutoscalingPolicy", "llama", "old-uid", "of a policy deleted before")
	event("other-policy", "AutoscalingPolicy", "mistral", "x", "another policy")
	event("a-deployment", "Deployment", "llama", "y", "the deployment's")

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test", Namespace: "default"}
	kc.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"status", "--kubeconfig", kubeconfig, "-n", "ai", "llama"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := out.String()
	if !strings.Contains(got, "New size: 4; reason: queue depth 6 > 4") {
		t.Errorf("the policy's Event is missing:\n%s", got)
	}
	for _, foreign := range []string{"deleted before", "another policy", "the deployment's"} {
		if strings.Contains(got, foreign) {
			t.Errorf("printed an Event not of this policy (%s):\n%s", foreign, got)
		}
	}
	// The context's namespace is used without -n, and a missing policy is an error that names it.
	if code := run([]string{"status", "--kubeconfig", kubeconfig, "llama"}, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "AutoscalingPolicy default/llama") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	_ = os.Remove(kubeconfig)
}
