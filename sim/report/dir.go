package report

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inferscale/inferscale/sim"
)

// WriteDir writes report.html, chart.svg (the report's charts alone) and samples.csv into
// dir, creating it.
func WriteDir(dir string, sc *sim.Scenario, results []*sim.Result, sums []Summary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "samples.csv"), func(w *bufio.Writer) error { return WriteCSV(w, results) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "chart.svg"), func(w *bufio.Writer) error {
		return WriteSVG(w, fmt.Sprintf("%s; %s, pod start %s", sc.Name, sc.Model.Name, sc.Model.StartDelay.Duration), sc, results)
	}); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "report.html"), func(w *bufio.Writer) error { return WriteHTML(w, sc, results, sums) })
}

func writeFile(path string, fill func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := fill(w); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// WriteCSV writes one row per autoscaler and second.
func WriteCSV(w *bufio.Writer, results []*sim.Result) error {
	fmt.Fprintln(w, "autoscaler,t,arrivals,completed,p99_latency_seconds,p99_ttft_seconds,desired,ready,pods,waiting,violation")
	for _, r := range results {
		for _, s := range r.Samples {
			fmt.Fprintf(w, "%s,%d,%d,%d,%.4f,%.4f,%d,%d,%d,%d,%t\n", r.Autoscaler, s.T, s.Arrivals, s.Completed, s.P99Latency, s.P99TTFT, s.Desired, s.Ready, s.Pods, s.Waiting, s.Violation)
		}
	}
	return nil
}
