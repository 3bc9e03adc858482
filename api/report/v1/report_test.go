package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func validReport() *Report {
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	r := &Report{
		APIVersion: APIVersion,
		Pod:        PodRef{Namespace: "ai", Name: "llama-0", UID: "0b7c", Node: "gpu-3"},
		Interval:   Interval{Start: start, End: start.Add(time.Second)},
		Requests:   Requests{Status2xx: 3, Status5xx: 1, TransportErrors: 1, Rejected: 7},
		InFlight:   Gauge{Average: 2.5, Max: 4},
		Queue:      Gauge{Average: 0.5, Max: 1},
		ModelMetrics: map[string]float64{
			"vllm:num_requests_waiting": 3,
		},
		ModelMetricsScrape: &ModelMetricsScrape{Missing: map[string]string{"vllm:num_requests_swapped": ScrapeNotExported}},
		DroppedReports:     2,
	}
	for _, v := range []float64{0.01, 0.02, 0.5, 1.2, 0.003} {
		r.Latency.Add(v)
	}
	for _, v := range []float64{0.001, 0.002, 0.01, 0.1} {
		r.TimeToFirstByte.Add(v)
	}
	for _, v := range []float64{0.02, 0.03} {
		r.TimePerOutputToken.Add(v)
	}
	power, limit, clock, maxClock := 412.5, 700.0, uint32(1980), uint32(1980)
	r.GPUs = []GPU{
		{Index: 0, UUID: "GPU-a", UtilizationPercent: ptr(87), MemoryUsedBytes: 64 << 30, MemoryTotalBytes: 80 << 30,
			PowerWatts: &power, PowerLimitWatts: &limit, SMClockMHz: &clock, SMClockMaxMHz: &maxClock, ThrottleReasons: []string{"SwPowerCap"},
			SMActivityPercent: ptr(71), SMOccupancyPercent: ptr(33), TensorActivityPercent: ptr(40)},
		{Index: 1, UUID: "GPU-b", UtilizationPercent: ptr(0), MemoryTotalBytes: 80 << 30},
		{Index: 2, UUID: "MIG-c", MIG: true, ParentUUID: "GPU-c", MemoryUsedBytes: 1 << 30, MemoryTotalBytes: 10 << 30},
	}
	r.GPUAttribution = GPUAttributionPodResources
	return r
}

func TestReportRoundTrip(t *testing.T) {
	in := validReport()
	var buf bytes.Buffer
	if err := Encode(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n in %+v\nout %+v", in, out)
	}
}

func TestReportAbsentFieldsOmitted(t *testing.T) {
	r := validReport()
	r.ModelMetrics, r.GPUs, r.DroppedReports, r.Requests.Rejected = nil, nil, 0, 0
	b, _ := json.Marshal(r)
	for _, k := range []string{"modelMetrics", "gpus", "droppedReports", "rejected"} {
		if bytes.Contains(b, []byte(`"`+k+`"`)) {
			t.Errorf("%s present in %s", k, b)
		}
	}
	r = validReport()
	r.GPUs[0].PowerWatts = nil
	b, _ = json.Marshal(r)
	if bytes.Contains(b, []byte("powerWatts")) {
		t.Errorf("absent power encoded: %s", b)
	}
}

// A report of an agent that predates requests.rejected decodes with none: the count is not
// part of the latency count's check, so old and new agents and scalers mix.
func TestRejectedIsOptional(t *testing.T) {
	r := validReport()
	r.Requests.Rejected = 0
	var buf bytes.Buffer
	if err := Encode(&buf, r); err != nil {
		t.Fatal(err)
	}
	out, err := Decode(&buf)
	if err != nil || out.Requests.Rejected != 0 {
		t.Fatalf("decode without rejected: %v, %+v", err, out)
	}
	if r := validReport(); r.Requests.Total() != 5 {
		t.Errorf("Total = %d, want 5: rejections are not finished requests", r.Requests.Total())
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		field  string
		mutate func(*Report)
	}{
		{"apiVersion", func(r *Report) { r.APIVersion = "inferscale.io/report/v2" }},
		{"pod.namespace", func(r *Report) { r.Pod.Namespace = "" }},
		{"pod.name", func(r *Report) { r.Pod.Name = strings.Repeat("x", 300) }},
		{"pod.uid", func(r *Report) { r.Pod.UID = "" }},
		{"interval.start", func(r *Report) { r.Interval.Start = time.Time{} }},
		{"interval.end", func(r *Report) { r.Interval.End = r.Interval.Start }},
		{"latency.count", func(r *Report) { r.Requests.Status2xx++ }},
		{"timeToFirstByte.count", func(r *Report) { r.TimeToFirstByte.Add(1); r.TimeToFirstByte.Add(1) }},
		{"timePerOutputToken.count", func(r *Report) { r.TimePerOutputToken.Add(1); r.TimePerOutputToken.Add(1); r.TimePerOutputToken.Add(1) }},
		{"timePerOutputToken.sum", func(r *Report) { r.TimePerOutputToken.AddSum(math.Inf(1)) }},
		{"inFlight.average", func(r *Report) { r.InFlight.Average = -1 }},
		{"queue.max", func(r *Report) { r.Queue.Max = math.Inf(1) }},
		{`modelMetrics["x"]`, func(r *Report) { r.ModelMetrics["x"] = math.Inf(1) }},
		{"modelMetricsScrape.error", func(r *Report) { r.ModelMetricsScrape.Error = strings.Repeat("x", MaxScrapeErrorLen+1) }},
		{"modelMetricsScrape.error", func(r *Report) { r.ModelMetricsScrape.Error = "status 404\x1b[2J" }},
		{"modelMetricsScrape.error", func(r *Report) { r.ModelMetricsScrape.Error = "\xff" }},
		{"modelMetricsScrape.missing", func(r *Report) {
			for i := range MaxModelMetrics + 1 {
				r.ModelMetricsScrape.Missing[strings.Repeat("m", i+1)] = ScrapeNoValue
			}
		}},
		{"modelMetricsScrape.missing", func(r *Report) { r.ModelMetricsScrape.Missing[strings.Repeat("m", MaxNameLen+1)] = ScrapeNoValue }},
		{`modelMetricsScrape.missing["x"]`, func(r *Report) { r.ModelMetricsScrape.Missing["x"] = "" }},
		{`modelMetricsScrape.missing["x"]`, func(r *Report) { r.ModelMetricsScrape.Missing["x"] = "Not Exported" }},
		{`modelMetricsScrape.missing["x"]`, func(r *Report) { r.ModelMetricsScrape.Missing["x"] = strings.Repeat("X", 33) }},
		{"gpus[1].utilizationPercent", func(r *Report) { r.GPUs[1].UtilizationPercent = ptr(101) }},
		{"gpus[0].smActivityPercent", func(r *Report) { r.GPUs[0].SMActivityPercent = ptr(math.NaN()) }},
		{"gpus[0].tensorActivityPercent", func(r *Report) { r.GPUs[0].TensorActivityPercent = ptr(-1) }},
		{"gpus[0].powerLimitWatts", func(r *Report) { r.GPUs[0].PowerLimitWatts = ptr(math.Inf(1)) }},
		{"gpus[0].throttleReasons", func(r *Report) { r.GPUs[0].ThrottleReasons = make([]string, MaxThrottleReasons+1) }},
		{"gpus[0].throttleReasons[0]", func(r *Report) { r.GPUs[0].ThrottleReasons[0] = strings.Repeat("x", 33) }},
		{"gpus[2].parentUUID", func(r *Report) { r.GPUs[2].ParentUUID = strings.Repeat("x", 300) }},
		{"gpuAttribution", func(r *Report) { r.GPUAttribution = strings.Repeat("x", 33) }},
		{"gpus[0].memoryUsedBytes", func(r *Report) { r.GPUs[0].MemoryUsedBytes = 81 << 30 }},
		{"gpus[0].index", func(r *Report) { r.GPUs[0].Index = -1 }},
		{"gpus[0].index", func(r *Report) { r.GPUs[0].Index = MaxGPUIndex + 1 }},
		{"gpus[0].powerWatts", func(r *Report) { p := 1.7e308; r.GPUs[0].PowerWatts = &p }},
		{"interval.end", func(r *Report) { r.Interval.End = r.Interval.Start.Add(MaxInterval + time.Nanosecond) }},
		// A nanosecond interval with a thousand requests: counted per second of at least one.
		{"requests", func(r *Report) {
			r.Interval.End = r.Interval.Start.Add(time.Nanosecond)
			r.Requests = Requests{Status2xx: MaxRequestsPerSecond + 1}
			r.Latency = Sketch{}
			r.Latency.AddZero(MaxRequestsPerSecond + 1)
			r.TimeToFirstByte = Sketch{}
			r.TimePerOutputToken = Sketch{}
		}},
		{"requests.rejected", func(r *Report) { r.Requests.Rejected = MaxRequestsPerSecond + 1 }},
		// Counters that wrap around to the latency count when summed.
		{"requests", func(r *Report) { r.Requests = Requests{Status2xx: math.MaxUint64, Status4xx: 6} }},
		{"inFlight.max", func(r *Report) { r.InFlight = Gauge{Average: 1e6, Max: 1.7e308} }},
		{"queue.average", func(r *Report) { r.Queue.Average = math.NaN() }},
		{"latency.sum", func(r *Report) { r.Latency.AddSum(1.7e308) }},
		{"timeToFirstByte.sum", func(r *Report) { r.TimeToFirstByte.AddSum(math.NaN()) }},
	}
	for _, c := range cases {
		r := validReport()
		c.mutate(r)
		err := r.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a FieldError for it", c.field, err)
		}
	}
	if err := validReport().Validate(); err != nil {
		t.Fatalf("valid report: %v", err)
	}
}

// A gauge's reason that a newer agent might send is accepted, within its bounds; so is a
// report of an agent that predates modelMetricsScrape.
func TestModelMetricsScrapeIsOpen(t *testing.T) {
	r := validReport()
	r.ModelMetricsScrape.Missing["x"] = strings.Repeat("X", 32)
	r.ModelMetricsScrape.Error = strings.Repeat("é", MaxScrapeErrorLen/2)
	if err := r.Validate(); err != nil {
		t.Errorf("bounded scrape status refused: %v", err)
	}
	r.ModelMetricsScrape = nil
	if err := r.Validate(); err != nil {
		t.Errorf("report without a scrape status refused: %v", err)
	}
}

// ScrapeError's output always passes Validate, whatever the model server put in it.
func TestScrapeError(t *testing.T) {
	if got := ScrapeError(nil); got != "" {
		t.Errorf("nil error: %q", got)
	}
	for _, msg := range []string{
		"scraping model metrics http://127.0.0.1:8000/metrics: status 404",
		"parsing: \x1b[31mred\x00\n\xff" + strings.Repeat("é", 300),
		strings.Repeat("x", 1000),
	} {
		got := ScrapeError(errors.New(msg))
		r := validReport()
		r.ModelMetricsScrape.Error = got
		if err := r.Validate(); err != nil {
			t.Errorf("ScrapeError(%.40q) = %.40q, refused: %v", msg, got, err)
		}
		if len(msg) <= MaxScrapeErrorLen && !strings.ContainsAny(msg, "\x1b\x00\n") && utf8.ValidString(msg) && got != msg {
			t.Errorf("ScrapeError(%q) = %q, want it unchanged", msg, got)
		}
	}
}

func FuzzModelMetricsScrape(f *testing.F) {
	f.Add("status 404", "vllm:x", "NotExported")
	f.Fuzz(func(t *testing.T, msg, name, why string) {
		r := validReport()
		r.ModelMetricsScrape = &ModelMetricsScrape{Error: ScrapeError(errors.New(msg)), Missing: map[string]string{name: why}}
		var buf bytes.Buffer
		if err := Encode(&buf, r); err != nil {
			t.Fatal(err)
		}
		_, err := Decode(&buf)
		var fe *FieldError
		switch {
		case errors.As(err, &fe) && fe.Field == "modelMetricsScrape.error":
			t.Errorf("ScrapeError(%q) refused: %v", msg, err)
		case err == nil && (name == "" || why == ""):
			t.Errorf("empty name or reason accepted: %q %q", name, why)
		}
	})
}

func TestClamp(t *testing.T) {
	r := validReport()
	if f := r.Clamp(); f != nil {
		t.Fatalf("valid report clamped: %v", f)
	}
	r.InFlight = Gauge{Average: 4.0000001, Max: 4}
	r.ModelMetrics["a"], r.ModelMetrics["b"] = 1.7e308, -1.7e308
	r.DroppedReports = math.MaxUint64
	if err := r.Validate(); err != nil {
		t.Fatalf("clampable report refused: %v", err)
	}
	got := r.Clamp()
	if want := []string{"inFlight.average", "modelMetrics", "droppedReports"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clamped %v, want %v", got, want)
	}
	if r.InFlight.Average != 4 || r.ModelMetrics["a"] != MaxModelMetricValue || r.ModelMetrics["b"] != -MaxModelMetricValue ||
		r.ModelMetrics["vllm:num_requests_waiting"] != 3 || r.DroppedReports != MaxDroppedReports {
		t.Errorf("clamped to %+v %v %d", r.InFlight, r.ModelMetrics, r.DroppedReports)
	}
	// Two gauges at the limit still sum to a finite value.
	if s := r.ModelMetrics["a"] * 600 * 10; math.IsInf(s, 0) {
		t.Error("clamped gauge overflows over a window")
	}
}

func TestCheckAge(t *testing.T) {
	r := validReport()
	end := r.Interval.End
	for _, c := range []struct {
		now time.Time
		ok  bool
	}{
		{end, true}, {end.Add(2 * time.Minute), true}, {end.Add(-2 * time.Minute), true},
		{end.Add(2*time.Minute + time.Millisecond), false}, {end.Add(-2*time.Minute - time.Millisecond), false},
	} {
		err := r.CheckAge(c.now, 2*time.Minute)
		var fe *FieldError
		if c.ok != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != "interval.end")) {
			t.Errorf("now = end%+v: %v", c.now.Sub(end), err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := json.Marshal(validReport())
	with := func(key, value string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		m[key] = json.RawMessage(value)
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name, body, field string
	}{
		{"type", with("requests", `{"2xx":"three"}`), "requests.2xx"},
		{"span order", with("latency", `{"count":2,"spans":[{"index":0,"counts":[1]},{"index":0,"counts":[1]}]}`), "latency.spans[1].index"},
		{"empty span", with("latency", `{"count":0,"spans":[{"index":0,"counts":[]}]}`), "latency.spans[0].counts"},
		{"sketch count", with("latency", `{"count":6,"spans":[{"index":0,"counts":[5]}]}`), "latency.count"},
		{"span range", with("timeToFirstByte", `{"count":1,"spans":[{"index":999999,"counts":[1]}]}`), "timeToFirstByte.spans[0].index"},
		{"per-token span order", with("timePerOutputToken", `{"count":2,"spans":[{"index":0,"counts":[1]},{"index":0,"counts":[1]}]}`), "timePerOutputToken.spans[1].index"},
		{"sketch type", with("latency", `{"count":"x"}`), "latency"},
	}
	for _, c := range cases {
		_, err := Decode(strings.NewReader(c.body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a FieldError for %s", c.name, err, c.field)
		}
	}
	if _, err := Decode(strings.NewReader("{")); err == nil {
		t.Error("truncated JSON decoded")
	}
	big := append([]byte(`{"apiVersion":"`), bytes.Repeat([]byte("x"), MaxReportBytes)...)
	if _, err := Decode(bytes.NewReader(big)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized body: %v, want ErrTooLarge", err)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := json.Marshal(validReport())
	f.Add(good)
	f.Add([]byte(`{"latency":{"count":1,"spans":[{"index":-1151,"counts":[1]}]}}`))
	f.Add([]byte(`{"latency":{"count":18446744073709551615,"zeroCount":18446744073709551615,"spans":[{"index":0,"counts":[1]}]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever decodes must be valid, usable and encode again.
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded report invalid: %v", err)
		}
		r.Latency.Quantile(0.99)
		var m Sketch
		m.Merge(&r.Latency)
		m.Merge(&r.TimeToFirstByte)
		m.Merge(&r.TimePerOutputToken)
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func ptr(v float64) *float64 { return &v }

func TestGPUSignal(t *testing.T) {
	r := validReport()
	want := [NumGPUSignals]float64{87, 80, 71, 33, 40, 412.5 / 7}
	for sig := range NumGPUSignals {
		v, ok := r.GPUs[0].Signal(sig)
		if !ok || math.Abs(v-want[sig]) > 1e-9 {
			t.Errorf("GPU 0 %s = %v %v, want %v", sig, v, ok, want[sig])
		}
		if p, ok := ParseGPUSignal(sig.String()); !ok || p != sig {
			t.Errorf("ParseGPUSignal(%q) = %v %v", sig, p, ok)
		}
	}
	// The MIG slice reports memory only; everything else is absent, not zero.
	for sig := range NumGPUSignals {
		_, ok := r.GPUs[2].Signal(sig)
		if ok != (sig == GPUMemoryUtilization) {
			t.Errorf("MIG slice %s present = %v", sig, ok)
		}
	}
	if _, ok := ParseGPUSignal("temperature"); ok {
		t.Error("unknown signal parsed")
	}
	if !GPUAttributionExact(GPUAttributionDRA) || !GPUAttributionExact(GPUAttributionPodResources) ||
		GPUAttributionExact(GPUAttributionUnattributed) || GPUAttributionExact("") {
		t.Error("GPUAttributionExact")
	}
}

// An agent that predates timePerOutputToken sends none: the report decodes with it empty.
func TestDecodeWithoutTimePerOutputToken(t *testing.T) {
	var m map[string]json.RawMessage
	good, _ := json.Marshal(validReport())
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "timePerOutputToken")
	b, _ := json.Marshal(m)
	r, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if n := r.TimePerOutputToken.Count(); n != 0 {
		t.Errorf("timePerOutputToken.count = %d, want 0", n)
	}
}
