//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	installCRDsOnce sync.Once
	installCRDsOut  string
	installCRDsErr  error
)

// installCRDs applies manifests/crd the way a user does, once per run, and waits until the
// API server serves the kind.
func installCRDs(t *testing.T) {
	t.Helper()
	installCRDsOnce.Do(func() {
		out, err := testCluster.Kubectl(t.Context(), "apply", "-k", repoPath(t, "manifests/crd"))
		installCRDsOut = string(out)
		if err != nil {
			installCRDsErr = err
			return
		}
		out, err = testCluster.Kubectl(t.Context(), "wait", "--for=condition=Established", "--timeout=60s", "crd/autoscalingpolicies.inferscale.io")
		installCRDsOut += string(out)
		installCRDsErr = err
	})
	if installCRDsErr != nil {
		t.Fatalf("install CRDs: %v\n%s", installCRDsErr, installCRDsOut)
	}
}

func TestCRDInstalls(t *testing.T) {
	installCRDs(t)
	out := kubectl(t, "api-resources", "--api-group=inferscale.io", "-o", "wide")
	for _, want := range []string{"autoscalingpolicies", "asp", "inferscale.io/v1alpha1", "AutoscalingPolicy", "true"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl api-resources lacks %q:\n%s", want, out)
		}
	}
}

// Every sample under manifests/samples is accepted by the real API server's schema and CEL
// rules, applied as a user applies them.
func TestSamplesApply(t *testing.T) {
	installCRDs(t)
	samples := repoPath(t, "manifests/samples")
	out := kubectl(t, "apply", "-k", samples)
	t.Cleanup(func() {
		if out, err := testCluster.Kubectl(context.Background(), "delete", "-k", samples, "--wait=false"); err != nil {
			t.Errorf("delete samples: %v\n%s", err, out)
		}
	})
	// Each policy of the kustomization's files is reported created or configured.
	rendered := kubectl(t, "kustomize", samples)
	want := strings.Count(rendered, "kind: AutoscalingPolicy")
	if want == 0 {
		t.Fatalf("manifests/samples renders no AutoscalingPolicy:\n%s", rendered)
	}
	if got := strings.Count(out, "autoscalingpolicy.inferscale.io/"); got != want {
		t.Errorf("kubectl apply -k manifests/samples applied %d policies, want %d:\n%s", got, want, out)
	}
}

// A policy that breaks the schema is refused at apply time, and the message names the field.
func TestSchemaErrorRefusedWithFieldPath(t *testing.T) {
	installCRDs(t)
	ns := newNamespace(t)
	cases := []struct {
		name, latency, wantField, wantReason string
	}{
		{"percentile out of range", "{percentile: 150, target: 500ms}", "spec.metrics[0].latency.percentile", "less than 100"},
		{"negative latency target", "{percentile: 99, target: -1s}", "spec.metrics[0].latency.target", "positive duration"},
		{"first byte and per output token at once", "{percentile: 99, target: 50ms, timeToFirstByte: true, timePerOutputToken: true}",
			"spec.metrics[0].latency", "timeToFirstByte and timePerOutputToken are exclusive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest := filepath.Join(t.TempDir(), "policy.yaml")
			policy := `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: broken, namespace: ` + ns + `}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  maxReplicas: 5
  metrics:
  - type: Latency
    latency: ` + tc.latency + "\n"
			if err := os.WriteFile(manifest, []byte(policy), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := testCluster.Kubectl(t.Context(), "apply", "-f", manifest)
			if err == nil {
				t.Fatalf("kubectl apply accepted a policy with %s:\n%s", tc.name, out)
			}
			for _, want := range []string{tc.wantField, tc.wantReason} {
				if !strings.Contains(string(out), want) {
					t.Errorf("kubectl apply refused the policy, but its message lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// `kubectl get asp` prints the target, bounds, replicas and driving metric columns.
func TestGetASPPrintsColumns(t *testing.T) {
	installCRDs(t)
	ns := newNamespace(t)
	manifest := filepath.Join(t.TempDir(), "policy.yaml")
	policy := `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: llama, namespace: ` + ns + `}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  minReplicas: 2
  maxReplicas: 7
  metrics:
  - type: QueueDepth
    queueDepth: {averageValue: 4}
`
	if err := os.WriteFile(manifest, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", manifest)
	out := kubectl(t, "get", "asp", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get asp printed %d lines, want a header and one row:\n%s", len(lines), out)
	}
	header := strings.Fields(lines[0])
	wantHeader := []string{"NAME", "TARGET", "READY", "MIN", "MAX", "CURRENT", "DESIRED", "TARGETS", "AGE"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Fatalf("kubectl get asp header = %v, want %v", header, wantHeader)
	}
	// Whether a scaler already runs decides whether the status columns are empty, so read
	// the cells under their headers rather than by position.
	cells := columnCells(lines[0], lines[1])
	for col, want := range map[string]string{"NAME": "llama", "TARGET": "llama", "MIN": "2", "MAX": "7"} {
		if cells[col] != want {
			t.Errorf("kubectl get asp: %s = %q, want %q (row %q)", col, cells[col], want, lines[1])
		}
	}
	if r := cells["READY"]; r != "" && r != "True" && r != "False" && r != "Unknown" {
		t.Errorf("kubectl get asp: READY = %q, want a condition status or empty", r)
	}
}

// columnCells splits a row of kubectl's table output by where each header starts, as
// kubectl aligns them, so empty cells stay empty.
func columnCells(header, row string) map[string]string {
	cells := map[string]string{}
	fields := strings.Fields(header)
	starts := make([]int, len(fields))
	at := 0
	for i, f := range fields {
		at += strings.Index(header[at:], f)
		starts[i] = at
		at += len(f)
	}
	for i, f := range fields {
		from, to := starts[i], len(row)
		if i+1 < len(fields) {
			to = starts[i+1]
		}
		if from >= len(row) {
			continue
		}
		cells[f] = strings.TrimSpace(row[from:min(to, len(row))])
	}
	return cells
}
