package window

import (
	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Why a pod's last report lacked a model gauge the target keeps, beside the agent's own
// reasons (reportv1.ScrapeNotExported, ScrapeNoValue, ScrapeWrongType).
const (
	// AbsentScrapeFailed: the agent's scrape of the model's metrics endpoint fails
	// (ModelScrape.Error says how).
	AbsentScrapeFailed = "ScrapeFailed"
	// AbsentNotScraped: the agent was not told to scrape the gauge: its pod was created before
	// a policy named it, or the webhook's list for it differs.
	AbsentNotScraped = "NotScraped"
	// AbsentUnexplained: the agent predates the scrape status and does not say.
	AbsentUnexplained = "Unexplained"
)

// ModelScrape is what a pod's last report said of the model gauges its target keeps.
type ModelScrape struct {
	// Error is why the agent's last scrape failed; empty when it worked.
	Error string
	// Absent has, for each kept gauge the last report lacked, why (one of the Absent…
	// constants or the agent's reason); nil when it had them all.
	Absent map[string]string
}

// scrapeState is ModelScrape as a pod's data keeps it: why[i] is why the last report lacked
// the target's i-th gauge, "" when it had it. It is rewritten in place on every report.
type scrapeState struct {
	err string
	why []string
}

func (s *scrapeState) record(names []string, r *reportv1.Report) {
	s.why = append(s.why[:0], make([]string, len(names))...)
	st := r.ModelMetricsScrape
	s.err = ""
	if st != nil {
		s.err = st.Error
	}
	for i, name := range names {
		if _, ok := r.ModelMetrics[name]; ok {
			continue
		}
		switch {
		case st == nil:
			s.why[i] = AbsentUnexplained
		case st.Missing[name] != "":
			s.why[i] = st.Missing[name]
		case st.Error != "":
			s.why[i] = AbsentScrapeFailed
		default:
			s.why[i] = AbsentNotScraped
		}
	}
}

// snapshot is the ModelScrape of names; it allocates only when a gauge is absent.
func (s *scrapeState) snapshot(names []string) ModelScrape {
	out := ModelScrape{Error: s.err}
	for i, why := range s.why {
		if why != "" && i < len(names) {
			if out.Absent == nil {
				out.Absent = map[string]string{}
			}
			out.Absent[names[i]] = why
		}
	}
	return out
}
