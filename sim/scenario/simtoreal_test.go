package scenario

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inferscale/inferscale/internal/loadprofile"
	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/model"
	"github.com/inferscale/inferscale/sim/workload"
)

// demoSample is one second of a real `make demo` run, as e2e/demo writes samples.json.
type demoSample struct {
	T          float64 `json:"t"`
	OfferedRPS float64 `json:"offeredRPS"`
	P99Ms      float64 `json:"p99Ms"`
	Desired    int32   `json:"desired"`
	Ready      int32   `json:"ready"`
}

// runStats are what the sim-to-real check compares.
type runStats struct {
	replicaSeconds float64 // ready replicas integrated over the run
	attainment     float64 // share of loaded seconds with p99 ≤ target
	peak           int32   // most ready replicas
	firstUp        float64 // seconds until the ready count first rose
	final          int32
}

func statsOf(s []demoSample, targetMs float64) runStats {
	var r runStats
	loaded, met := 0, 0
	r.firstUp = -1
	for i, x := range s {
		r.peak = max(r.peak, x.Ready)
		if x.OfferedRPS > 0 && x.P99Ms > 0 {
			loaded++
			if x.P99Ms <= targetMs {
				met++
			}
		}
		if i > 0 {
			r.replicaSeconds += float64(s[i-1].Ready) * (x.T - s[i-1].T)
			if r.firstUp < 0 && x.Ready > s[0].Ready {
				r.firstUp = x.T
			}
		}
	}
	r.attainment = float64(met) / float64(max(loaded, 1))
	r.final = s[len(s)-1].Ready
	return r
}

// realDemoRun returns a real run's samples: sim/testdata/demo-samples.json when present (a
// `make demo` run's _output/demo/samples.json), else the run drawn in docs/demo.svg, read
// back from its polylines (e2e/demo.WriteChart's layout).
func realDemoRun(t *testing.T) ([]demoSample, string) {
	if b, err := os.ReadFile("../testdata/demo-samples.json"); err == nil {
		var s []demoSample
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s, "sim/testdata/demo-samples.json"
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../docs/demo.svg")
	if err != nil {
		t.Fatal(err)
	}
	s, err := readDemoChart(string(b))
	if err != nil {
		t.Fatalf("docs/demo.svg: %v", err)
	}
	return s, "docs/demo.svg"
}

var (
	polyRE = regexp.MustCompile(`<polyline fill="none" stroke="(#[0-9a-f]{6})" stroke-width="2" points="([^"]*)"`)
	// A panel's lowest and highest grid line and their labels.
	tickRE = regexp.MustCompile(`<line x1="60" x2="750" y1="([0-9.]+)" y2="[0-9.]+" stroke="#eee"/><text x="54" y="[0-9.]+" text-anchor="end">([0-9.]+)</text>`)
	axisRE = regexp.MustCompile(`<text x="([0-9.]+)" y="[0-9.]+" text-anchor="middle">([0-9.]+)s</text>`)
)

// readDemoChart inverts e2e/demo.WriteChart: x is 60 + t/tMax·690, each panel maps its value
// range linearly onto its grid lines, and a step series repeats the previous value at each
// sample's x before its own.
func readDemoChart(svg string) ([]demoSample, error) {
	ticks := tickRE.FindAllStringSubmatch(svg, -1)
	if len(ticks) != 15 {
		return nil, errors.New("want three panels of five grid lines")
	}
	axis := axisRE.FindAllStringSubmatch(svg, -1)
	if len(axis) < 2 {
		return nil, errors.New("no time axis")
	}
	x0, _ := strconv.ParseFloat(axis[0][1], 64)
	x1, _ := strconv.ParseFloat(axis[1][1], 64)
	t1, _ := strconv.ParseFloat(axis[1][2], 64)
	secPerPx := t1 / (x1 - x0)
	// value(y) for panel p.
	value := func(p int, y float64) float64 {
		y0, _ := strconv.ParseFloat(ticks[5*p][1], 64)
		v0, _ := strconv.ParseFloat(ticks[5*p][2], 64)
		y4, _ := strconv.ParseFloat(ticks[5*p+4][1], 64)
		v4, _ := strconv.ParseFloat(ticks[5*p+4][2], 64)
		return v0 + (y-y0)/(y4-y0)*(v4-v0)
	}
	series := map[string][][2]float64{}
	for _, m := range polyRE.FindAllStringSubmatch(svg, -1) {
		var pts [][2]float64
		for _, p := range strings.Fields(m[2]) {
			xs, ys, _ := strings.Cut(p, ",")
			x, err1 := strconv.ParseFloat(xs, 64)
			y, err2 := strconv.ParseFloat(ys, 64)
			if err1 != nil || err2 != nil {
				return nil, errors.New("bad point " + p)
			}
			pts = append(pts, [2]float64{x, y})
		}
		series[m[1]] = pts
	}
	steps := func(pts [][2]float64) [][2]float64 { // drop the repeated previous values
		out := [][2]float64{}
		for i, p := range pts {
			if i == 0 || i%2 == 0 {
				out = append(out, p)
			}
		}
		return out
	}
	offered, p99 := steps(series["#1f77b4"]), series["#d62728"]
	desired, ready := steps(series["#ff7f0e"]), steps(series["#2ca02c"])
	n := len(p99)
	if n == 0 || len(offered) != n || len(desired) != n || len(ready) != n {
		return nil, errors.New("series of different lengths")
	}
	out := make([]demoSample, n)
	for i := range out {
		out[i] = demoSample{
			T:          (p99[i][0] - x0) * secPerPx,
			OfferedRPS: math.Round(value(0, offered[i][1])),
			P99Ms:      value(1, p99[i][1]),
			Desired:    int32(math.Round(value(2, desired[i][1]))),
			Ready:      int32(math.Round(value(2, ready[i][1]))),
		}
	}
	return out, nil
}

// demoRun simulates the demo's profile (e2e/cmd/demo's, sent evenly spaced as its load
// generator does) with the e2e preset under as, and returns its samples in samples.json's
// terms.
func demoRun(t *testing.T, as sim.Autoscaler, slo []sim.Target) []demoSample {
	t.Helper()
	profile, err := loadprofile.Parse(DemoProfile)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := workload.Synthetic(workload.Steps(profile), workload.Arrivals{Kind: "uniform"}, 0, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(sim.Config{Requests: reqs, Model: model.Presets["e2e"], SLO: slo, Seed: 1, Duration: profile.Duration() + DemoSettle}, as)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]demoSample, len(res.Samples))
	for i, s := range res.Samples {
		rate, _ := profile.RateAt(time.Duration(s.T) * time.Second)
		out[i] = demoSample{T: float64(s.T), OfferedRPS: rate, P99Ms: 1000 * s.P99Latency, Desired: s.Desired, Ready: s.Ready}
	}
	return out
}

// replay sets the replica count a real run had at each second.
type replay struct{ real []demoSample }

func (*replay) Name() string                   { return "replay" }
func (*replay) Interval() time.Duration        { return time.Second }
func (*replay) Observe(time.Time, *sim.Second) {}
func (r *replay) Decide(now time.Time, st *sim.State) int32 {
	t := now.Sub(sim.Epoch).Seconds()
	want := st.Replicas
	for _, s := range r.real {
		if s.T > t {
			break
		}
		want = s.Desired
	}
	return want
}

// The model and the cluster against a real `make demo` run: given the replica counts the real
// scaler chose, second by second, the simulated e2e model server must show the real run's
// latency: the share of loaded seconds within the 300 ms p99 target within 10 points, and the
// replica-seconds within 10 % (pods start in the preset's 2 s as the real ones did). This
// holds whatever the decision core does, since the replicas are the real ones.
func TestSimReplaysTheDemo(t *testing.T) {
	real, src := realDemoRun(t)
	const target = 300.0
	r := statsOf(real, target)
	p := statsOf(demoRun(t, &replay{real: real}, []sim.Target{{Percentile: 99, Latency: target * time.Millisecond}}), target)
	t.Logf("real (%s): %.0f replica-s, SLO %.0f%% of loaded seconds", src, r.replicaSeconds, 100*r.attainment)
	t.Logf("replayed:   %.0f replica-s, SLO %.0f%% of loaded seconds", p.replicaSeconds, 100*p.attainment)
	if math.Abs(p.replicaSeconds-r.replicaSeconds) > 0.10*r.replicaSeconds {
		t.Errorf("replica-seconds: replayed %.0f, real %.0f", p.replicaSeconds, r.replicaSeconds)
	}
	if math.Abs(p.attainment-r.attainment) > 0.10 {
		t.Errorf("SLO attainment: replayed %.2f, real %.2f", p.attainment, r.attainment)
	}
}

// The demo's profile, simulated with the e2e preset and the demo's own policy under the
// scaler's current decision code, predicts a real run of the same code: replica-seconds within
// 25 %, SLO attainment within 12 points, the peak within one replica, the first scale-up
// within 10 s, and the same count at the end. It needs a real run of the current code in
// sim/testdata/demo-samples.json (`make demo`, then copy _output/demo/samples.json): the run
// drawn in docs/demo.svg was made before the decision core's latency sizing changed, and this
// test is skipped without one.
func TestSimPredictsTheDemo(t *testing.T) {
	b, err := os.ReadFile("../testdata/demo-samples.json")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no real run of the current decision code in sim/testdata/demo-samples.json: the closed-loop prediction is not checked")
	}
	if err != nil {
		t.Fatal(err)
	}
	var real []demoSample
	if err := json.Unmarshal(b, &real); err != nil {
		t.Fatal(err)
	}
	const target = 300.0
	r := statsOf(real, target)
	m := model.Presets["e2e"]
	policy, err := DefaultPolicy(&m)
	if err != nil {
		t.Fatal(err)
	}
	p := statsOf(demoRun(t, sim.NewInferscale(policy), sim.SLOOf(policy)), target)
	t.Logf("real:      %.0f replica-s, SLO %.0f%% of loaded seconds, peak %d, first scale-up at %.0fs, %d at the end", r.replicaSeconds, 100*r.attainment, r.peak, r.firstUp, r.final)
	t.Logf("simulated: %.0f replica-s, SLO %.0f%% of loaded seconds, peak %d, first scale-up at %.0fs, %d at the end", p.replicaSeconds, 100*p.attainment, p.peak, p.firstUp, p.final)
	if math.Abs(p.replicaSeconds-r.replicaSeconds) > 0.25*r.replicaSeconds {
		t.Errorf("replica-seconds: simulated %.0f, real %.0f", p.replicaSeconds, r.replicaSeconds)
	}
	if math.Abs(p.attainment-r.attainment) > 0.12 {
		t.Errorf("SLO attainment: simulated %.2f, real %.2f", p.attainment, r.attainment)
	}
	if d := p.peak - r.peak; d > 1 || d < -1 {
		t.Errorf("peak replicas: simulated %d, real %d", p.peak, r.peak)
	}
	if math.Abs(p.firstUp-r.firstUp) > 10 {
		t.Errorf("first scale-up: simulated at %.0fs, real at %.0fs", p.firstUp, r.firstUp)
	}
	if p.final != r.final {
		t.Errorf("replicas at the end: simulated %d, real %d", p.final, r.final)
	}
}
