// Package report renders simulation results: a table for people, JSON for scripts, and with
// --out an HTML page with SVG charts and a CSV of every second.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/inferscale/inferscale/sim"
)

// Summary is one autoscaler's line. The JSON keys are stable: scripts read them.
type Summary struct {
	Autoscaler           string  `json:"autoscaler"`
	Requests             int     `json:"requests"`
	Failed               int     `json:"failed"`
	SLOAttainment        float64 `json:"slo_attainment"`
	SLOSecondsAttainment float64 `json:"slo_seconds_attainment"`
	SLOViolationSeconds  int     `json:"slo_violation_seconds"`
	ReplicaSeconds       float64 `json:"replica_seconds"`
	ScaleEvents          int     `json:"scale_events"`
	P50TTFTSeconds       float64 `json:"p50_ttft_seconds"`
	P99TTFTSeconds       float64 `json:"p99_ttft_seconds"`
	P50LatencySeconds    float64 `json:"p50_latency_seconds"`
	P99LatencySeconds    float64 `json:"p99_latency_seconds"`
	// ViolationRatio and ReplicaRatio are inferscale's violation-seconds and replica-seconds
	// over this autoscaler's; absent for inferscale itself and where this one's is zero.
	ViolationRatio *float64 `json:"inferscale_violation_ratio,omitempty"`
	ReplicaRatio   *float64 `json:"inferscale_replica_ratio,omitempty"`
}

// Summarize makes one summary per result; the first result must be inferscale's.
func Summarize(results []*sim.Result) []Summary {
	out := make([]Summary, len(results))
	for i, r := range results {
		out[i] = Summary{
			Autoscaler:           r.Autoscaler,
			Requests:             r.Requests,
			Failed:               r.Failed + r.Unfinished,
			SLOAttainment:        r.SLOAttainment(),
			SLOSecondsAttainment: r.SecondsAttainment(),
			SLOViolationSeconds:  r.ViolationSeconds,
			ReplicaSeconds:       r.ReplicaSeconds,
			ScaleEvents:          r.ScaleEvents,
			P50TTFTSeconds:       sim.Quantile(&r.TTFT, 0.5),
			P99TTFTSeconds:       sim.Quantile(&r.TTFT, 0.99),
			P50LatencySeconds:    sim.Quantile(&r.Latency, 0.5),
			P99LatencySeconds:    sim.Quantile(&r.Latency, 0.99),
		}
	}
	if len(out) == 0 || out[0].Autoscaler != "inferscale" {
		return out
	}
	is := out[0]
	for i := 1; i < len(out); i++ {
		out[i].ViolationRatio = ratio(float64(is.SLOViolationSeconds), float64(out[i].SLOViolationSeconds))
		out[i].ReplicaRatio = ratio(is.ReplicaSeconds, out[i].ReplicaSeconds)
	}
	return out
}

func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	v := a / b
	return &v
}

// WriteJSON writes the summaries as a JSON array.
func WriteJSON(w io.Writer, s []Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// TableHeader is the header line of WriteTable, for tables of several scenarios.
const TableHeader = "autoscaler\tSLO reqs\tSLO secs\tviolation-s\treplica-s\tscale events\tTTFT p50/p99\tlatency p50/p99\tinferscale viol ÷\tinferscale rep-s ÷"

// WriteTable writes an aligned table of the summaries.
func WriteTable(w io.Writer, s []Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, TableHeader)
	for _, r := range s {
		fmt.Fprintln(tw, Row(r))
	}
	return tw.Flush()
}

// Row is one summary as a tab-separated table row.
func Row(r Summary) string {
	return strings.Join([]string{
		r.Autoscaler,
		pct(r.SLOAttainment), pct(r.SLOSecondsAttainment),
		fmt.Sprint(r.SLOViolationSeconds), fmt.Sprintf("%.0f", r.ReplicaSeconds), fmt.Sprint(r.ScaleEvents),
		secs(r.P50TTFTSeconds) + " / " + secs(r.P99TTFTSeconds),
		secs(r.P50LatencySeconds) + " / " + secs(r.P99LatencySeconds),
		ratioText(r.ViolationRatio, r.Autoscaler), ratioText(r.ReplicaRatio, r.Autoscaler),
	}, "\t")
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func secs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fs", v)
	case v >= 1:
		return fmt.Sprintf("%.2fs", v)
	default:
		return fmt.Sprintf("%.0fms", v*1000)
	}
}

func ratioText(v *float64, name string) string {
	switch {
	case name == "inferscale":
		return "—"
	case v == nil:
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *v)
}
