package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSimulateRunsTheKPAByDefault(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"simulate", "--model", "e2e", "--profile", "20s@2,30s@120,20s@10", "--settle", "30s", "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rows []struct{ Autoscaler string }
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Autoscaler)
	}
	if strings.Join(names, ",") != "inferscale,hpa-cpu,keda,kpa,oracle" {
		t.Errorf("autoscalers %v", names)
	}
}

func TestHeadlineShort(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"headline", "-length", "0.02", "-markdown", "-trace", "../../../testdata/azure-llm-inference-2023-code.csv"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if n := strings.Count(out.String(), "| kpa |"); n != 10 {
		t.Errorf("%d kpa rows in the Markdown table, want 10:\n%s", n, out.String())
	}
}
