package scenario

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/report"
)

// Row is one line of the headline table.
type Row struct {
	Scenario   string
	StartDelay time.Duration
	report.Summary
}

// RunHeadlines runs every headline scenario at every start delay under factories (inferscale
// first) and the oracle and prints the table to w; progress, when not nil, hears of each
// scenario as it starts.
func RunHeadlines(w, progress io.Writer, tracePath string, length float64, factories []sim.Factory, seed uint64) ([]Row, error) {
	var rows []Row
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tstart\t"+report.TableHeader)
	for _, h := range Headlines(tracePath, length) {
		for _, d := range StartDelays {
			sc, err := HeadlineScenario(h, d, seed)
			if err != nil {
				return rows, err
			}
			if progress != nil {
				fmt.Fprintf(progress, "running %s (%d requests)\n", sc.Name, len(sc.Requests))
			}
			res, err := sim.Compare(sc, factories)
			if err != nil {
				return rows, fmt.Errorf("%s: %w", sc.Name, err)
			}
			for _, s := range report.Summarize(res) {
				rows = append(rows, Row{Scenario: h.Name, StartDelay: d, Summary: s})
				fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Name, d, report.Row(s))
			}
		}
	}
	return rows, tw.Flush()
}

// Markdown renders rows as a Markdown table, for the README.
func Markdown(rows []Row) string {
	var b strings.Builder
	head := strings.Split("scenario\tstart\t"+report.TableHeader, "\t")
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + r.Scenario + " | " + r.StartDelay.String() + " | " + strings.ReplaceAll(report.Row(r.Summary), "\t", " | ") + " |\n")
	}
	return b.String()
}
