// Package modelmetrics scrapes named gauges from the model server's own Prometheus endpoint.
package modelmetrics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// maxScrapeBytes bounds what a scrape reads; a vLLM endpoint serves a few hundred KiB.
const maxScrapeBytes = 16 << 20

// Scraper reads Names from URL.
type Scraper struct {
	URL    string
	Names  []string
	Client *http.Client
}

// Result is one successful scrape.
type Result struct {
	// Values has each named metric the server exported with a number.
	Values map[string]float64
	// Missing has each named metric that is not in Values, with why (reportv1.ScrapeNotExported,
	// ScrapeNoValue, ScrapeWrongType).
	Missing map[string]string
}

// Scrape returns the value of each named metric the server exported, and why each other one
// is missing. Several series of one name (label sets, engines) are summed, except ratios
// (names ending in _perc, _percent or _ratio), which are averaged.
func (s *Scraper) Scrape(ctx context.Context) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("model metrics URL %q: %w", s.URL, err)
	}
	// Ask for the classic text format: it is what the parser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	res, err := s.Client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("scraping model metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("scraping model metrics %s: status %d", s.URL, res.StatusCode)
	}
	return s.parse(io.LimitReader(res.Body, maxScrapeBytes))
}

// parse keeps only the lines of the wanted metrics before the text parser sees them, so a
// scrape costs little even against an endpoint with hundreds of histograms.
func (s *Scraper) parse(r io.Reader) (Result, error) {
	var kept bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	// typed are the wanted names a # TYPE line declared: a histogram's or summary's samples
	// are named name_bucket, name_sum, name_count, so its family never reaches the parser.
	typed := map[string]string{}
	for sc.Scan() {
		line := sc.Bytes()
		if name := lineMetric(line); name != "" && slices.Contains(s.Names, name) {
			kept.Write(line)
			kept.WriteByte('\n')
			if rest, ok := bytes.CutPrefix(line, []byte("# TYPE "+name+" ")); ok && len(typed) < len(s.Names) {
				typed[name] = string(bytes.TrimSpace(rest))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("reading model metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(&kept)
	if err != nil {
		return Result{}, fmt.Errorf("parsing model metrics: %w", err)
	}
	out := Result{Values: make(map[string]float64, len(families))}
	miss := func(name, why string) {
		if out.Missing == nil {
			out.Missing = map[string]string{}
		}
		out.Missing[name] = why
	}
	for _, name := range s.Names {
		mf, ok := families[name]
		switch typ, declared := typed[name]; {
		case !ok && declared && typ != "gauge" && typ != "counter" && typ != "untyped":
			miss(name, reportv1.ScrapeWrongType)
			continue
		case !ok && declared:
			miss(name, reportv1.ScrapeNoValue)
			continue
		case !ok:
			miss(name, reportv1.ScrapeNotExported)
			continue
		}
		if !scalar(mf.GetType()) {
			// Only its _bucket, _sum and _count lines carry samples, and none is a level.
			miss(name, reportv1.ScrapeWrongType)
			continue
		}
		var sum float64
		var n int
		for _, m := range mf.GetMetric() {
			v, ok := value(mf.GetType(), m)
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				continue // NaN (a gauge with no data yet) is absent, not a value
			}
			sum += v
			n++
		}
		switch {
		case n > 0:
			if isRatio(name) {
				sum /= float64(n)
			}
			out.Values[name] = sum
		default:
			miss(name, reportv1.ScrapeNoValue)
		}
	}
	return out, nil
}

func scalar(t dto.MetricType) bool {
	return t == dto.MetricType_GAUGE || t == dto.MetricType_COUNTER || t == dto.MetricType_UNTYPED
}

func value(t dto.MetricType, m *dto.Metric) (float64, bool) {
	switch t {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), m.Gauge != nil
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), m.Counter != nil
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), m.Untyped != nil
	}
	return 0, false
}

func isRatio(name string) bool {
	return strings.HasSuffix(name, "_perc") || strings.HasSuffix(name, "_percent") || strings.HasSuffix(name, "_ratio")
}

// lineMetric is the metric a text-format line is about: the sample's name, or the name a
// # HELP or # TYPE comment describes; "" for other lines.
func lineMetric(line []byte) string {
	if bytes.HasPrefix(line, []byte("# HELP ")) || bytes.HasPrefix(line, []byte("# TYPE ")) {
		rest := line[7:]
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			rest = rest[:i]
		}
		return string(rest)
	}
	if len(line) == 0 || line[0] == '#' {
		return ""
	}
	if i := bytes.IndexAny(line, "{ \t"); i >= 0 {
		return string(line[:i])
	}
	return ""
}
