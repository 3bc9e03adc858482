package demo

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Sample is what the demo saw at one moment of the run.
type Sample struct {
	T               float64 `json:"t"` // seconds since the load started
	OfferedRPS      float64 `json:"offeredRPS"`
	P99Ms           float64 `json:"p99Ms"` // p99 of the requests that completed in the last second; 0 when none did
	QueuePerReplica float64 `json:"queuePerReplica"`
	Desired         int32   `json:"desired"`
	Ready           int32   `json:"ready"`
	Reason          string  `json:"reason,omitempty"`
}

type panel struct {
	title  string
	unit   string
	series []series
	ref    float64 // a horizontal reference line (the SLO); 0 for none
	counts bool    // whole numbers: integer ticks with headroom
}

type series struct {
	name  string
	color string
	value func(Sample) float64
	step  bool
}

const (
	chartWidth  = 900
	panelHeight = 170
	marginLeft  = 60
	marginRight = 150
	marginTop   = 30
	panelGap    = 40
)

// WriteChart draws the run as an SVG: offered load, p99 against its target,
// and desired and ready replicas, on one time axis.
func WriteChart(w io.Writer, samples []Sample, targetP99Ms float64) error {
	panels := []panel{
		{title: "offered load", unit: "req/s", series: []series{
			{name: "offered", color: "#1f77b4", value: func(s Sample) float64 { return s.OfferedRPS }, step: true},
		}},
		{title: "p99 latency", unit: "ms", ref: targetP99Ms, series: []series{
			{name: "p99", color: "#d62728", value: func(s Sample) float64 { return s.P99Ms }},
		}},
		{title: "replicas", unit: "pods", counts: true, series: []series{
			{name: "desired", color: "#ff7f0e", value: func(s Sample) float64 { return float64(s.Desired) }, step: true},
			{name: "ready", color: "#2ca02c", value: func(s Sample) float64 { return float64(s.Ready) }, step: true},
		}},
	}
	tMax := 1.0
	for _, s := range samples {
		tMax = math.Max(tMax, s.T)
	}
	height := marginTop + len(panels)*(panelHeight+panelGap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	plotW := float64(chartWidth - marginLeft - marginRight)
	x := func(t float64) float64 { return marginLeft + t/tMax*plotW }
	for i, p := range panels {
		top := float64(marginTop + i*(panelHeight+panelGap))
		yMax := p.ref * 1.2
		for _, s := range samples {
			for _, se := range p.series {
				yMax = math.Max(yMax, se.value(s))
			}
		}
		if p.counts {
			// Four integer ticks with room above the highest count.
			yMax = 4 * math.Ceil((yMax+1)/4)
		} else {
			yMax = niceCeil(yMax)
		}
		if p.ref > 0 && yMax > niceCeil(5*p.ref) {
			// Queueing latency can reach seconds; keep the target readable and clip above.
			yMax = niceCeil(5 * p.ref)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#555">clipped at %s</text>`+"\n", marginLeft+plotW+6, top+panelHeight-4, trim(yMax))
		}
		y := func(v float64) float64 { return top + panelHeight - math.Min(v, yMax)/yMax*panelHeight }
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" font-weight="bold">%s (%s)</text>`+"\n", marginLeft, top-8, p.title, p.unit)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", marginLeft, top, plotW, panelHeight)
		for k := 0; k <= 4; k++ {
			v := yMax * float64(k) / 4
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, marginLeft, marginLeft+plotW, y(v), y(v))
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginLeft-6, y(v)+4, trim(v))
		}
		if p.ref > 0 {
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="6 4"/>`, marginLeft, marginLeft+plotW, y(p.ref), y(p.ref))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">target %s</text>`+"\n", marginLeft+plotW+6, y(p.ref)+4, trim(p.ref))
		}
		for j, se := range p.series {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", se.color, points(samples, se, x, y))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", marginLeft+plotW+6, top+16+float64(j)*16, se.color, se.name)
		}
	}
	axisY := float64(height - panelGap + 14)
	step := niceCeil(tMax / 6)
	for t := 0.0; t <= tMax; t += step {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%ss</text>`, x(t), axisY, trim(t))
	}
	b.WriteString("\n</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func points(samples []Sample, se series, x, y func(float64) float64) string {
	var b strings.Builder
	for i, s := range samples {
		v := se.value(s)
		if se.step && i > 0 {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(s.T), y(se.value(samples[i-1])))
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x(s.T), y(v))
	}
	return strings.TrimSpace(b.String())
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, so axis labels read well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
