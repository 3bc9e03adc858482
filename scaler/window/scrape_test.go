package window

import (
	"reflect"
	"testing"
	"time"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Each pod's last report says why it lacks a gauge the target keeps: the agent's reason, a
// failing scrape, an agent not told to scrape it, or an agent too old to say; gauges no policy
// keeps are not mentioned, and a later report that has the gauge clears its reason.
func TestWindowSaysWhyAGaugeIsAbsent(t *testing.T) {
	s, clk := newStore(t, Config{Window: 10 * time.Second, ModelMetrics: []string{"vllm:a", "vllm:b"}})
	reports := map[string]func(*reportv1.Report){
		"exports-a": func(r *reportv1.Report) {
			r.ModelMetrics = map[string]float64{"vllm:a": 1}
			r.ModelMetricsScrape = &reportv1.ModelMetricsScrape{Missing: map[string]string{"vllm:b": reportv1.ScrapeNotExported, "other": reportv1.ScrapeNoValue}}
		},
		"failing": func(r *reportv1.Report) {
			r.ModelMetricsScrape = &reportv1.ModelMetricsScrape{Error: "status 404"}
		},
		"not-told": func(r *reportv1.Report) {
			r.ModelMetrics = map[string]float64{"vllm:a": 1}
			r.ModelMetricsScrape = &reportv1.ModelMetricsScrape{}
		},
		"old-agent": func(r *reportv1.Report) {},
	}
	for pod, mutate := range reports {
		r := report(1, 0.1, 1)
		mutate(r)
		if err := s.Record(key, Pod{pod, pod}, r); err != nil {
			t.Fatal(err)
		}
	}
	snap, _ := s.Window(key, 10*time.Second)
	want := map[string]ModelScrape{
		"exports-a": {Absent: map[string]string{"vllm:b": reportv1.ScrapeNotExported}},
		"failing":   {Error: "status 404", Absent: map[string]string{"vllm:a": AbsentScrapeFailed, "vllm:b": AbsentScrapeFailed}},
		"not-told":  {Absent: map[string]string{"vllm:b": AbsentNotScraped}},
		"old-agent": {Absent: map[string]string{"vllm:a": AbsentUnexplained, "vllm:b": AbsentUnexplained}},
	}
	for pod, w := range want {
		if got := snap.Pods[pod].ModelScrape; !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %+v, want %+v", pod, got, w)
		}
	}

	clk.Step(time.Second)
	r := report(1, 0.1, 1)
	r.ModelMetrics = map[string]float64{"vllm:a": 1, "vllm:b": 2}
	r.ModelMetricsScrape = &reportv1.ModelMetricsScrape{}
	if err := s.Record(key, Pod{"failing", "failing"}, r); err != nil {
		t.Fatal(err)
	}
	snap, _ = s.Window(key, 10*time.Second)
	if got := snap.Pods["failing"].ModelScrape; !reflect.DeepEqual(got, ModelScrape{}) {
		t.Errorf("after a report with both gauges: %+v", got)
	}
}
