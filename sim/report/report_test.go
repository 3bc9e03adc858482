package report

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/inferscale/inferscale/api/v1alpha1"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

func scenario(t *testing.T) (*sim.Scenario, []*sim.Result) {
	t.Helper()
	spec := (&v1alpha1.AutoscalingPolicySpec{MaxReplicas: 8, Metrics: []v1alpha1.MetricSpec{
		{Type: v1alpha1.LatencyMetricType, Latency: &v1alpha1.LatencyMetricSource{Percentile: 99, Target: metav1.Duration{Duration: 300 * time.Millisecond}}},
		{Type: v1alpha1.QueueDepthMetricType, QueueDepth: &v1alpha1.AverageValueMetricSource{AverageValue: resource.MustParse("4")}},
	}}).Defaulted()
	reqs, err := workload.Synthetic([]workload.Segment{{For: 20 * time.Second, RPS: 5}, {For: time.Minute, RPS: 150}, {For: 20 * time.Second, RPS: 5}}, workload.Arrivals{Kind: "poisson"}, 0, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc := &sim.Scenario{Name: "test", Requests: reqs, Model: model.Presets["e2e"], Policy: spec, Seed: 1, Duration: 3 * time.Minute}
	res, err := sim.Compare(sc, sim.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	return sc, res
}

func TestSummariesAndRatios(t *testing.T) {
	_, res := scenario(t)
	sums := Summarize(res)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sums); err != nil {
		t.Fatal(err)
	}
	var back []Summary
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back) != len(res) {
		t.Fatalf("JSON round trip: %v, %d rows", err, len(back))
	}
	is := sums[0]
	for _, s := range sums[1:] {
		if s.ReplicaRatio == nil || *s.ReplicaRatio != is.ReplicaSeconds/s.ReplicaSeconds {
			t.Errorf("%s: replica ratio %v, want %v", s.Autoscaler, s.ReplicaRatio, is.ReplicaSeconds/s.ReplicaSeconds)
		}
		if (s.SLOViolationSeconds == 0) != (s.ViolationRatio == nil) {
			t.Errorf("%s: violation ratio %v with %d violation-seconds", s.Autoscaler, s.ViolationRatio, s.SLOViolationSeconds)
		}
	}
	buf.Reset()
	if err := WriteTable(&buf, sums); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(sums)+1 {
		t.Errorf("table of %d lines:\n%s", n, buf.String())
	}
}

func TestWriteDir(t *testing.T) {
	sc, res := scenario(t)
	dir := t.TempDir()
	if err := WriteDir(dir, sc, res, Summarize(res)); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	// Three charts; the latency and replica charts have a line per autoscaler.
	if n := strings.Count(string(page), "<svg "); n != 3 {
		t.Errorf("%d charts", n)
	}
	if n := strings.Count(string(page), "<polyline "); n != 1+2*len(res) {
		t.Errorf("%d lines, want %d", n, 1+2*len(res))
	}
	csv, err := os.ReadFile(filepath.Join(dir, "samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, r := range res {
		rows += len(r.Samples)
	}
	if n := strings.Count(string(csv), "\n"); n != rows+1 {
		t.Errorf("samples.csv has %d lines, want %d", n, rows+1)
	}
	var svg bytes.Buffer
	if err := WriteSVG(&svg, "t", sc, res); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg.String(), "<svg") || strings.Count(svg.String(), "<polyline ") != 1+2*len(res) {
		t.Error("standalone SVG lacks its lines")
	}
}

// TestReportRendersInChromium opens report.html in headless Chromium and checks that every
// autoscaler's line colour is on the screenshot. It is skipped where no chromium is on PATH
// (CI does not install it); on Debian: apt-get install chromium.
func TestReportRendersInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH: the report's rendering is not checked")
	}
	sc, res := scenario(t)
	dir := t.TempDir()
	if err := WriteDir(dir, sc, res, Summarize(res)); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "shot.png")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--window-size=1100,1200", "--screenshot="+shot, "file://"+filepath.Join(dir, "report.html"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	for i, r := range res {
		c := palette[i]
		rgb := [3]uint8{}
		for k := range 3 {
			v, _ := strconv.ParseUint(c[1+2*k:3+2*k], 16, 8)
			rgb[k] = uint8(v)
		}
		// A 1.4 px line antialiases; its pure colour still covers many pixels of a rendered chart.
		if counts[rgb] < 30 {
			t.Errorf("%s's colour %s covers %d pixels of the screenshot", r.Autoscaler, c, counts[rgb])
		}
	}
}
