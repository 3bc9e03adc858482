package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimulateJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"simulate", "--model", "e2e", "--profile", "20s@2,30s@120,20s@10", "--settle", "30s", "--format", "json"}, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	var names []string
	for _, r := range rows {
		for _, k := range []string{"autoscaler", "slo_attainment", "slo_violation_seconds", "replica_seconds", "scale_events", "p99_ttft_seconds", "p99_latency_seconds"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v lacks %q", r["autoscaler"], k)
			}
		}
		names = append(names, r["autoscaler"].(string))
	}
	if strings.Join(names, ",") != "inferscale,hpa-cpu,keda,oracle" {
		t.Errorf("autoscalers %v", names)
	}
}

// badPolicy has two field errors.
const badPolicy = `apiVersion: inferscale.io/v1alpha1
kind: AutoscalingPolicy
metadata: {name: bad, namespace: ai}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  minReplicas: 0
  maxReplicas: 3
  metrics:
  - type: Latency
    latency: {percentile: 100, target: 500ms}
`

func TestSimulateRefusesABadPolicyWithValidatesErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(badPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"simulate", "--profile", "10s@1", "--policy", path}, nil, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errOut.String())
	}
	var vout bytes.Buffer
	run([]string{"validate", path}, nil, &vout, &vout)
	for _, line := range strings.Split(strings.TrimSpace(vout.String()), "\n") {
		// validate prints "FILE: NAME: ERROR"; simulate lists the same errors.
		msg := line[strings.LastIndex(line, "AutoscalingPolicy ai/bad: ")+len("AutoscalingPolicy ai/bad: "):]
		if !strings.Contains(errOut.String(), msg) {
			t.Errorf("simulate's error lacks validate's %q:\n%s", msg, errOut.String())
		}
	}
}

func TestSimulateUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--profile", "10s@1", "--trace", "x.csv"},
		{"simulate", "--profile", "10s"},
		{"simulate", "--profile", "10s@1", "--compare", "vpa"},
		{"simulate", "--profile", "10s@1", "--format", "xml"},
		{"simulate", "--profile", "10s@1", "--model", "no-such-model"},
	} {
		var out bytes.Buffer
		if code := run(args, nil, &out, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out.String())
		}
	}
}
