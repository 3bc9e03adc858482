package report

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/inferscale/inferscale/sim"
)

// palette colours the autoscalers in result order.
var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#7f7f7f", "#8c564b"}

type series struct {
	name, color string
	ys          []float64
}

// chart renders one panel as inline SVG: series over seconds, an optional reference line.
// ymax 0 scales to the data: for counts (unit "") to a multiple of 4, so the ticks are whole.
func chart(title, unit string, xs int, ss []series, ref float64, ymax float64) template.HTML {
	const w, h, left, right, top, bottom = 960, 220, 60, 150, 24, 28
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	if ymax <= 0 {
		for _, s := range ss {
			for _, y := range s.ys {
				if !math.IsNaN(y) {
					ymax = max(ymax, y)
				}
			}
		}
		ymax = max(ymax, ref) * 1.1
		if unit == "" {
			ymax = 4 * math.Ceil(ymax/4)
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	if xs < 2 {
		xs = 2
	}
	x := func(i int) float64 { return left + pw*float64(i)/float64(xs-1) }
	y := func(v float64) float64 { return top + ph*(1-math.Min(v, ymax)/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="15" font-size="13" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#ccc"/>`, left, top, pw, ph)
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			left, left+pw, y(v), y(v), left-4, y(v)+4, tick(v, unit))
	}
	step := niceStep(xs)
	for t := 0; t < xs; t += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(t), h-10, clockText(t))
	}
	if ref > 0 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="4 3"/><text x="%.0f" y="%.1f">target</text>`,
			left, left+pw, y(ref), y(ref), left+pw+4, y(ref)+4)
	}
	for k, s := range ss {
		var pts strings.Builder
		// At most one point per pixel column: the maximum of the seconds it covers.
		// A NaN (a second without data) is left out.
		per := max(1, len(s.ys)/int(pw))
		for i := 0; i < len(s.ys); i += per {
			v := math.NaN()
			for j := i; j < i+per && j < len(s.ys); j++ {
				if !math.IsNaN(s.ys[j]) && !(s.ys[j] <= v) {
					v = s.ys[j]
				}
			}
			if !math.IsNaN(v) {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(i), y(v))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.4" points="%s"/>`, s.color, strings.TrimSpace(pts.String()))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%d" width="10" height="10" fill="%s"/><text x="%.0f" y="%d">%s</text>`,
			left+pw+8, top+16*k+14, s.color, left+pw+22, top+16*k+23, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func niceStep(xs int) int {
	for _, s := range []int{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		if xs/s <= 10 {
			return s
		}
	}
	return xs / 10
}

func clockText(t int) string {
	if t >= 3600 {
		return fmt.Sprintf("%dh%02dm", t/3600, t%3600/60)
	}
	if t >= 60 {
		return fmt.Sprintf("%dm%02ds", t/60, t%60)
	}
	return fmt.Sprintf("%ds", t)
}

func tick(v float64, unit string) string {
	switch unit {
	case "s":
		return secs(v)
	default:
		if v == math.Trunc(v) {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.1f", v)
	}
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>inferscale simulate: {{.Name}}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head>
<body><h1>inferscale simulate</h1>
<p>{{.Name}}; model {{.Model}}, pod start delay {{.Delay}}; {{.Requests}} requests; SLO {{.SLO}}.</p>
<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
{{range .Charts}}<div>{{.}}</div>{{end}}
<p>Every autoscaler replays the same requests with the same seed. Replicas are the pods that exist (a starting pod holds its GPU).
Latency is the p99 of the requests finished in each second, cut at four times the target.</p>
</body></html>
`))

// WriteSVG writes the report's three charts stacked in one standalone SVG, with title above.
func WriteSVG(w io.Writer, title string, sc *sim.Scenario, results []*sim.Result) error {
	if len(results) == 0 {
		return fmt.Errorf("no results")
	}
	charts, _ := charts(sc, results)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="%d" font-family="sans-serif" font-size="12">`+"\n", 30+220*len(charts))
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="60" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", template.HTMLEscapeString(title))
	for i, c := range charts {
		fmt.Fprintf(w, `<g transform="translate(0 %d)">%s</g>`+"\n", 30+220*i, c)
	}
	_, err := io.WriteString(w, "</svg>\n")
	return err
}

// charts are the load, latency and replicas panels, and the SLO's text.
func charts(sc *sim.Scenario, results []*sim.Result) ([]template.HTML, string) {
	slo := sim.SLOOf(sc.Policy)
	if len(sc.SLO) > 0 {
		slo = sc.SLO
	}
	var sloText []string
	for _, t := range slo {
		sloText = append(sloText, t.String())
	}
	xs := len(results[0].Samples)
	load := make([]float64, xs)
	for i, s := range results[0].Samples {
		load[i] = float64(s.Arrivals)
	}
	var lat, reps []series
	for k, r := range results {
		c := palette[k%len(palette)]
		l, p := make([]float64, len(r.Samples)), make([]float64, len(r.Samples))
		for i, s := range r.Samples {
			l[i], p[i] = s.P99Latency, float64(s.Pods)
			if len(slo) > 0 && slo[0].TimeToFirstToken {
				l[i] = s.P99TTFT
			}
			if s.Completed == 0 {
				l[i] = math.NaN()
			}
		}
		lat = append(lat, series{r.Autoscaler, c, l})
		reps = append(reps, series{r.Autoscaler, c, p})
	}
	ref := 0.0
	what := "latency"
	if len(slo) > 0 {
		ref = slo[0].Latency.Seconds()
		if slo[0].TimeToFirstToken {
			what = "TTFT"
		}
	}
	return []template.HTML{
		chart("offered load (requests arriving per second)", "", xs, []series{{"load", "#444", load}}, 0, 0),
		chart("p99 "+what+" per second, cut at 4× the target", "s", xs, lat, ref, 4*ref),
		chart("replicas (pods that exist)", "", xs, reps, 0, 0),
	}, strings.Join(sloText, ", ")
}

// WriteHTML writes the report page.
func WriteHTML(w *bufio.Writer, sc *sim.Scenario, results []*sim.Result, sums []Summary) error {
	if len(results) == 0 {
		return fmt.Errorf("no results")
	}
	cs, slo := charts(sc, results)
	rows := make([][]string, len(sums))
	for i, s := range sums {
		rows[i] = strings.Split(Row(s), "\t")
	}
	return page.Execute(w, map[string]any{
		"Name": sc.Name, "Model": sc.Model.Name, "Delay": sc.Model.StartDelay.Duration, "Requests": len(sc.Requests),
		"SLO": slo, "Header": strings.Split(TableHeader, "\t"), "Rows": rows, "Charts": cs,
	})
}
