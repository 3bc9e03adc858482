package v1

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// APIVersion is the value of Report.APIVersion for this version of the format.
const APIVersion = "inferscale.io/report/v1"

// MaxReportBytes bounds an encoded report; Decode refuses larger bodies with ErrTooLarge.
// A report with 16 GPUs, 64 model gauges and two wide sketches stays far below it.
const MaxReportBytes = 256 << 10

// Limits on the variable parts, so a report cannot make the scaler allocate without bound.
const (
	MaxGPUs         = 64
	MaxModelMetrics = 64
	MaxNameLen      = 253
	maxShortLen     = 32
)

// Sanity limits on the values. A report beyond one is refused (Validate); the ones a real
// agent can exceed by accident are clamped instead (Clamp). They are far above what one pod
// can do, so they only stop a value from overwhelming every other pod's or becoming infinite
// once summed over a window.
const (
	// MaxInterval is the longest interval a report may cover. The agent reports every second
	// and drops what it cannot deliver, so a longer one is a clock jump or a forgery.
	MaxInterval = time.Hour
	// MaxRequestsPerSecond bounds requests finished per second of the interval (intervals
	// shorter than a second count as a second): far beyond what one proxy can serve.
	MaxRequestsPerSecond = 1e6
	// MaxInFlight bounds the in-flight and queue gauges.
	MaxInFlight = 1e6
	// MaxModelMetricValue is the magnitude a model gauge is clamped to: a server may export a
	// huge gauge (bytes of cache), but ±1.7e308 summed over a window is infinite.
	MaxModelMetricValue = 1e15
	// MaxDroppedReports is what droppedReports is clamped to.
	MaxDroppedReports = 1 << 20
	// MaxGPUIndex and MaxPowerWatts bound a GPU's index and power draw.
	MaxGPUIndex   = 1 << 12
	MaxPowerWatts = 1e5
)

// ErrTooLarge is returned by Decode for a body over MaxReportBytes (the scaler answers 413).
var ErrTooLarge = errors.New("report exceeds " + fmt.Sprint(MaxReportBytes) + " bytes")

// Report is what one agent sends for one interval: the deltas of that interval and gauges
// summarised over it. See doc.go for the schema.
type Report struct {
	APIVersion string   `json:"apiVersion"`
	Pod        PodRef   `json:"pod"`
	Interval   Interval `json:"interval"`
	Requests   Requests `json:"requests"`

	// Latency and TimeToFirstByte hold per-request durations in seconds. Requests that fail
	// before any byte of the response is sent (transport errors) are in Latency only.
	Latency         Sketch `json:"latency"`
	TimeToFirstByte Sketch `json:"timeToFirstByte"`
	// TimePerOutputToken holds, per streamed response of at least two server-sent events, the
	// seconds from its first event to its last over the events between them: the time per
	// output token of a server that sends one token per event. Absent from older agents.
	TimePerOutputToken Sketch `json:"timePerOutputToken"`

	// InFlight counts requests the agent has accepted and not finished, including those
	// waiting in its queue; Queue counts only those waiting for a concurrency slot.
	InFlight Gauge `json:"inFlight"`
	Queue    Gauge `json:"queue"`

	// ModelMetrics are gauges scraped from the model server, by metric name. A gauge the
	// server did not export is absent, never zero.
	ModelMetrics map[string]float64 `json:"modelMetrics,omitempty"`
	// ModelMetricsScrape says why a gauge the agent scrapes is absent from ModelMetrics. The
	// agent sends it with every report (empty when it scrapes no gauge); a gauge that is in
	// neither ModelMetrics nor Missing is one the agent was not told to scrape. Agents that
	// predate the field send none.
	ModelMetricsScrape *ModelMetricsScrape `json:"modelMetricsScrape,omitempty"`

	// GPUs are the pod's GPUs and MIG slices as the agent read them; GPUAttribution says how it
	// knows they are the pod's (GPUAttributionDRA, ...), set whenever GPUs is.
	GPUs           []GPU  `json:"gpus,omitempty"`
	GPUAttribution string `json:"gpuAttribution,omitempty"`

	// DroppedReports counts the reports this agent dropped since its last delivered one.
	DroppedReports uint64 `json:"droppedReports,omitempty"`
}

// PodRef identifies the reporting pod. The scaler trusts none of it for attribution; it only
// checks it against the token's pod.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	Node      string `json:"node,omitempty"`
}

// Interval is the half-open time range [Start, End) the report covers.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is End − Start.
func (i Interval) Duration() time.Duration { return i.End.Sub(i.Start) }

// Requests counts the requests that finished in the interval by outcome. A final 1xx status
// (101 Switching Protocols) counts as 2xx. For gRPC the grpc-status decides: OK is 2xx,
// caller errors (InvalidArgument, NotFound, ...) 4xx, the rest 5xx.
type Requests struct {
	Status2xx uint64 `json:"2xx"`
	Status3xx uint64 `json:"3xx"`
	Status4xx uint64 `json:"4xx"`
	Status5xx uint64 `json:"5xx"`
	// TransportErrors are requests that got no response from the model (connection refused
	// or reset, timeout); the agent answered them itself with 502/503/504.
	TransportErrors uint64 `json:"transportErrors"`
	// Rejected are requests the agent refused itself without forwarding them: its queue was
	// full (503 with Retry-After). They are in no other count, in neither sketch (they say
	// nothing of the model's latency) and not in Total: they are demand the pod did not
	// serve. Agents that predate the field send none, which reads as 0.
	Rejected uint64 `json:"rejected,omitempty"`
}

// Total is the number of finished requests.
func (r Requests) Total() uint64 {
	return r.Status2xx + r.Status3xx + r.Status4xx + r.Status5xx + r.TransportErrors
}

// Errors is the number of 5xx answers and transport errors.
func (r Requests) Errors() uint64 { return r.Status5xx + r.TransportErrors }

// Gauge summarises a gauge over the interval.
type Gauge struct {
	// Average is the time-weighted average over the interval.
	Average float64 `json:"average"`
	Max     float64 `json:"max"`
}

// ModelMetricsScrape is how the agent's last scrape of the model's metrics endpoint went.
type ModelMetricsScrape struct {
	// Error is why the last scrape failed (connection refused, an HTTP status, a body that does
	// not parse), as ScrapeError renders it; empty when it worked. A failed scrape yields no
	// gauge, so Missing is then empty.
	Error string `json:"error,omitempty"`
	// Missing are the gauges the agent scrapes that the last successful scrape did not yield,
	// each with why: ScrapeNotExported, ScrapeNoValue or ScrapeWrongType (a newer agent may
	// send another word).
	Missing map[string]string `json:"missing,omitempty"`
}

// Why a scraped gauge is missing (ModelMetricsScrape.Missing).
const (
	// ScrapeNotExported: the endpoint has no metric of that name.
	ScrapeNotExported = "NotExported"
	// ScrapeNoValue: the metric is there but has no number (NaN, or no sample).
	ScrapeNoValue = "NoValue"
	// ScrapeWrongType: the metric is a histogram or summary, not a gauge, counter or untyped.
	ScrapeWrongType = "WrongType"
)

// MaxScrapeErrorLen bounds ModelMetricsScrape.Error.
const MaxScrapeErrorLen = 256

// ScrapeError renders err for ModelMetricsScrape.Error: at most MaxScrapeErrorLen bytes of
// printable UTF-8 (anything else becomes U+FFFD), cut at a character boundary. The text comes
// from the model server (a status line, a parser's complaint about its body), so it is bounded
// and made printable before it travels.
func ScrapeError(err error) string {
	if err == nil {
		return ""
	}
	var b strings.Builder
	for _, r := range err.Error() {
		if !unicode.IsPrint(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxScrapeErrorLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// GPU attributions: how the agent knows the GPUs it reports are its pod's.
const (
	// GPUAttributionDRA: the pod's ResourceClaims were added to the agent's container, so
	// every device NVML shows the agent is one of the pod's.
	GPUAttributionDRA = "DRA"
	// GPUAttributionPodResources: the kubelet's PodResources API named the pod's devices and
	// the agent reads only those.
	GPUAttributionPodResources = "PodResources"
	// GPUAttributionConfigured: whoever ran the agent named the devices it reads.
	GPUAttributionConfigured = "Configured"
	// GPUAttributionUnattributed: the agent reports every GPU NVML shows it and cannot tell
	// which are the pod's. The scaler uses such readings only when they are no more GPUs
	// than the pod requests. An empty or unknown value means the same.
	GPUAttributionUnattributed = "Unattributed"
)

// GPUAttributionExact reports whether attribution a names the pod's own devices.
func GPUAttributionExact(a string) bool {
	return a == GPUAttributionDRA || a == GPUAttributionPodResources || a == GPUAttributionConfigured
}

// MaxThrottleReasons bounds GPU.ThrottleReasons.
const MaxThrottleReasons = 16

// GPU is one sample of one GPU, or MIG slice, of the pod, taken at the end of the interval.
// Every optional reading is absent where the device does not report it, never zero.
type GPU struct {
	Index int    `json:"index"`
	UUID  string `json:"uuid"`
	// MIG is true for a MIG slice; ParentUUID is then the GPU it is part of. A slice has no
	// utilization, power or clock of its own: only memory and the GPM activities.
	MIG        bool   `json:"mig,omitempty"`
	ParentUUID string `json:"parentUUID,omitempty"`
	// UtilizationPercent is NVML's utilization.gpu: the share of time a kernel ran.
	UtilizationPercent *float64 `json:"utilizationPercent,omitempty"`
	MemoryUsedBytes    uint64   `json:"memoryUsedBytes"`
	MemoryTotalBytes   uint64   `json:"memoryTotalBytes"`
	PowerWatts         *float64 `json:"powerWatts,omitempty"`
	// PowerLimitWatts is the enforced power limit.
	PowerLimitWatts *float64 `json:"powerLimitWatts,omitempty"`
	SMClockMHz      *uint32  `json:"smClockMHz,omitempty"`
	SMClockMaxMHz   *uint32  `json:"smClockMaxMHz,omitempty"`
	// ThrottleReasons name NVML's current clock event reasons (SwPowerCap, HwSlowdown, ...),
	// GpuIdle included; empty when the clocks are not held back.
	ThrottleReasons []string `json:"throttleReasons,omitempty"`
	// SMActivityPercent, SMOccupancyPercent and TensorActivityPercent are GPM metrics over
	// the interval (Hopper and newer): SMs busy, warps resident of the maximum, tensor pipes
	// busy.
	SMActivityPercent     *float64 `json:"smActivityPercent,omitempty"`
	SMOccupancyPercent    *float64 `json:"smOccupancyPercent,omitempty"`
	TensorActivityPercent *float64 `json:"tensorActivityPercent,omitempty"`
}

// MemoryUtilizationPercent is used memory as a percentage of total; 0 if total is unknown.
func (g *GPU) MemoryUtilizationPercent() float64 {
	if g.MemoryTotalBytes == 0 {
		return 0
	}
	return 100 * float64(g.MemoryUsedBytes) / float64(g.MemoryTotalBytes)
}

// GPUSignal is a reading of a GPU that can be scaled on, in percent. Its String is the name
// the AutoscalingPolicy's GPU metric uses.
type GPUSignal int

// The GPU signals, NumGPUSignals of them.
const (
	GPUUtilization GPUSignal = iota
	GPUMemoryUtilization
	GPUSMActivity
	GPUSMOccupancy
	GPUTensorActivity
	GPUPowerUtilization
	NumGPUSignals
)

var gpuSignalNames = [NumGPUSignals]string{
	"utilization", "memoryUtilization", "smActivity", "smOccupancy", "tensorActivity", "powerUtilization",
}

func (s GPUSignal) String() string {
	if s < 0 || s >= NumGPUSignals {
		return "GPUSignal(" + fmt.Sprint(int(s)) + ")"
	}
	return gpuSignalNames[s]
}

// ParseGPUSignal returns the signal of that name.
func ParseGPUSignal(name string) (GPUSignal, bool) {
	for i, n := range gpuSignalNames {
		if n == name {
			return GPUSignal(i), true
		}
	}
	return 0, false
}

// Signal returns signal s in percent; ok is false where the device did not report it.
func (g *GPU) Signal(s GPUSignal) (v float64, ok bool) {
	opt := func(p *float64) (float64, bool) {
		if p == nil {
			return 0, false
		}
		return *p, true
	}
	switch s {
	case GPUUtilization:
		return opt(g.UtilizationPercent)
	case GPUMemoryUtilization:
		return g.MemoryUtilizationPercent(), g.MemoryTotalBytes > 0
	case GPUSMActivity:
		return opt(g.SMActivityPercent)
	case GPUSMOccupancy:
		return opt(g.SMOccupancyPercent)
	case GPUTensorActivity:
		return opt(g.TensorActivityPercent)
	case GPUPowerUtilization:
		if g.PowerWatts == nil || g.PowerLimitWatts == nil || *g.PowerLimitWatts <= 0 {
			return 0, false
		}
		return min(100, 100**g.PowerWatts / *g.PowerLimitWatts), true
	}
	return 0, false
}

// UnmarshalJSON decodes a report; errors inside a sketch name it by its full path.
func (r *Report) UnmarshalJSON(b []byte) error {
	type plain Report // no methods: avoids recursion
	w := struct {
		*plain
		Latency            json.RawMessage `json:"latency"`
		TimeToFirstByte    json.RawMessage `json:"timeToFirstByte"`
		TimePerOutputToken json.RawMessage `json:"timePerOutputToken"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return &FieldError{Field: strings.TrimPrefix(ute.Field, "plain."), Detail: "cannot hold JSON " + ute.Value}
		}
		return err
	}
	for _, sk := range []struct {
		name string
		raw  json.RawMessage
		dst  *Sketch
	}{{"latency", w.Latency, &r.Latency}, {"timeToFirstByte", w.TimeToFirstByte, &r.TimeToFirstByte},
		{"timePerOutputToken", w.TimePerOutputToken, &r.TimePerOutputToken}} {
		*sk.dst = Sketch{}
		if len(sk.raw) == 0 || string(sk.raw) == "null" {
			continue
		}
		if err := json.Unmarshal(sk.raw, sk.dst); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: sk.name + "." + fe.Field, Detail: fe.Detail}
			}
			return &FieldError{Field: sk.name, Detail: err.Error()}
		}
	}
	return nil
}

// FieldError names the field of a report that is invalid, as a JSON path.
type FieldError struct {
	Field  string
	Detail string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Detail }

// Validate checks everything Decode cannot: required fields, ranges and consistency. The error
// names the first invalid field.
func (r *Report) Validate() error {
	fe := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Detail: fmt.Sprintf(format, a...)}
	}
	if r.APIVersion != APIVersion {
		return fe("apiVersion", "%q is not %q", r.APIVersion, APIVersion)
	}
	for _, f := range []struct{ name, v string }{
		{"pod.namespace", r.Pod.Namespace}, {"pod.name", r.Pod.Name}, {"pod.uid", r.Pod.UID},
	} {
		if f.v == "" {
			return fe(f.name, "required")
		}
		if len(f.v) > MaxNameLen {
			return fe(f.name, "longer than %d bytes", MaxNameLen)
		}
	}
	if len(r.Pod.Node) > MaxNameLen {
		return fe("pod.node", "longer than %d bytes", MaxNameLen)
	}
	if r.Interval.Start.IsZero() {
		return fe("interval.start", "required")
	}
	if !r.Interval.End.After(r.Interval.Start) {
		return fe("interval.end", "%s must be after interval.start %s", r.Interval.End.Format(time.RFC3339Nano), r.Interval.Start.Format(time.RFC3339Nano))
	}
	if d := r.Interval.Duration(); d > MaxInterval {
		return fe("interval.end", "the interval lasts %s, at most %s", d, MaxInterval)
	}
	total, ok := r.Requests.total()
	if !ok {
		return fe("requests", "the counts overflow when summed")
	}
	if limit := MaxRequestsPerSecond * max(r.Interval.Duration().Seconds(), 1); float64(total) > limit {
		return fe("requests", "%d requests in %s is more than %g per second", total, r.Interval.Duration(), float64(MaxRequestsPerSecond))
	} else if float64(r.Requests.Rejected) > limit {
		return fe("requests.rejected", "%d requests in %s is more than %g per second", r.Requests.Rejected, r.Interval.Duration(), float64(MaxRequestsPerSecond))
	}
	for _, sk := range []struct {
		name string
		s    *Sketch
	}{{"latency", &r.Latency}, {"timeToFirstByte", &r.TimeToFirstByte}, {"timePerOutputToken", &r.TimePerOutputToken}} {
		if err := checkSum(sk.name+".sum", sk.s.Sum()); err != nil {
			return err
		}
		// Every value is at most MaxValue, so the sum is too large for the count otherwise.
		if sum, limit := sk.s.Sum(), float64(sk.s.Count())*MaxValue; sum > limit {
			return fe(sk.name+".sum", "%v exceeds count × %g s", sum, float64(MaxValue))
		}
	}
	if r.Latency.Count() != total {
		return fe("latency.count", "%d does not equal the requests counted (%d)", r.Latency.Count(), total)
	}
	if r.TimeToFirstByte.Count() > r.Latency.Count() {
		return fe("timeToFirstByte.count", "%d exceeds latency.count %d", r.TimeToFirstByte.Count(), r.Latency.Count())
	}
	if r.TimePerOutputToken.Count() > r.TimeToFirstByte.Count() {
		return fe("timePerOutputToken.count", "%d exceeds timeToFirstByte.count %d", r.TimePerOutputToken.Count(), r.TimeToFirstByte.Count())
	}
	for _, g := range []struct {
		name string
		g    Gauge
	}{{"inFlight", r.InFlight}, {"queue", r.Queue}} {
		if !finiteNonNeg(g.g.Average) {
			return fe(g.name+".average", "%v must be finite and not negative", g.g.Average)
		}
		if !finiteNonNeg(g.g.Max) {
			return fe(g.name+".max", "%v must be finite and not negative", g.g.Max)
		}
		if g.g.Max > MaxInFlight {
			return fe(g.name+".max", "%v exceeds %g", g.g.Max, float64(MaxInFlight))
		}
	}
	if len(r.ModelMetrics) > MaxModelMetrics {
		return fe("modelMetrics", "%d entries, at most %d", len(r.ModelMetrics), MaxModelMetrics)
	}
	for k, v := range r.ModelMetrics {
		if k == "" || len(k) > MaxNameLen {
			return fe("modelMetrics", "name %q must have 1 to %d bytes", k, MaxNameLen)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fe(fmt.Sprintf("modelMetrics[%q]", k), "%v must be finite", v)
		}
	}
	if sc := r.ModelMetricsScrape; sc != nil {
		if err := sc.validate(); err != nil {
			return err
		}
	}
	if len(r.GPUs) > MaxGPUs {
		return fe("gpus", "%d entries, at most %d", len(r.GPUs), MaxGPUs)
	}
	if len(r.GPUAttribution) > maxShortLen {
		return fe("gpuAttribution", "longer than %d bytes", maxShortLen)
	}
	for i := range r.GPUs {
		if err := r.GPUs[i].validate(fmt.Sprintf("gpus[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (sc *ModelMetricsScrape) validate() error {
	fe := func(field, format string, a ...any) error {
		return &FieldError{Field: "modelMetricsScrape." + field, Detail: fmt.Sprintf(format, a...)}
	}
	if len(sc.Error) > MaxScrapeErrorLen {
		return fe("error", "longer than %d bytes", MaxScrapeErrorLen)
	}
	if !utf8.ValidString(sc.Error) || strings.ContainsFunc(sc.Error, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return fe("error", "must be printable UTF-8")
	}
	if len(sc.Missing) > MaxModelMetrics {
		return fe("missing", "%d entries, at most %d", len(sc.Missing), MaxModelMetrics)
	}
	for k, why := range sc.Missing {
		if k == "" || len(k) > MaxNameLen {
			return fe("missing", "name %q must have 1 to %d bytes", k, MaxNameLen)
		}
		if why == "" || len(why) > maxShortLen || strings.ContainsFunc(why, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') }) {
			return fe(fmt.Sprintf("missing[%q]", k), "%q must be 1 to %d ASCII letters", why, maxShortLen)
		}
	}
	return nil
}

func (g *GPU) validate(p string) error {
	fe := func(field, format string, a ...any) error {
		return &FieldError{Field: p + "." + field, Detail: fmt.Sprintf(format, a...)}
	}
	switch {
	case g.Index < 0 || g.Index > MaxGPUIndex:
		return fe("index", "%d must be within [0, %d]", g.Index, MaxGPUIndex)
	case len(g.UUID) > MaxNameLen:
		return fe("uuid", "longer than %d bytes", MaxNameLen)
	case len(g.ParentUUID) > MaxNameLen:
		return fe("parentUUID", "longer than %d bytes", MaxNameLen)
	case g.MemoryTotalBytes != 0 && g.MemoryUsedBytes > g.MemoryTotalBytes:
		return fe("memoryUsedBytes", "%d exceeds memoryTotalBytes %d", g.MemoryUsedBytes, g.MemoryTotalBytes)
	case len(g.ThrottleReasons) > MaxThrottleReasons:
		return fe("throttleReasons", "%d entries, at most %d", len(g.ThrottleReasons), MaxThrottleReasons)
	}
	for _, pc := range []struct {
		name string
		v    *float64
	}{
		{"utilizationPercent", g.UtilizationPercent}, {"smActivityPercent", g.SMActivityPercent},
		{"smOccupancyPercent", g.SMOccupancyPercent}, {"tensorActivityPercent", g.TensorActivityPercent},
	} {
		if pc.v != nil && !(*pc.v >= 0 && *pc.v <= 100) {
			return fe(pc.name, "%v must be within [0, 100]", *pc.v)
		}
	}
	for _, w := range []struct {
		name string
		v    *float64
	}{{"powerWatts", g.PowerWatts}, {"powerLimitWatts", g.PowerLimitWatts}} {
		if w.v != nil && !(finiteNonNeg(*w.v) && *w.v <= MaxPowerWatts) {
			return fe(w.name, "%v must be within [0, %g]", *w.v, float64(MaxPowerWatts))
		}
	}
	for j, r := range g.ThrottleReasons {
		if r == "" || len(r) > maxShortLen {
			return fe(fmt.Sprintf("throttleReasons[%d]", j), "must have 1 to %d bytes", maxShortLen)
		}
	}
	return nil
}

// Clamp bounds the values a real agent can produce out of range, and returns the fields it
// changed (for a metric); call it on a valid report. A time-weighted average can exceed the
// maximum sampled apart from it by rounding; a model server can export any gauge; an agent
// cut off for weeks counts more drops than matter.
func (r *Report) Clamp() (fields []string) {
	for _, g := range []struct {
		name string
		g    *Gauge
	}{{"inFlight.average", &r.InFlight}, {"queue.average", &r.Queue}} {
		if g.g.Average > g.g.Max {
			g.g.Average = g.g.Max
			fields = append(fields, g.name)
		}
	}
	clamped := false
	for k, v := range r.ModelMetrics {
		if c := min(max(v, -MaxModelMetricValue), MaxModelMetricValue); c != v {
			r.ModelMetrics[k], clamped = c, true
		}
	}
	if clamped {
		fields = append(fields, "modelMetrics")
	}
	if r.DroppedReports > MaxDroppedReports {
		r.DroppedReports = MaxDroppedReports
		fields = append(fields, "droppedReports")
	}
	return fields
}

// CheckAge refuses a report whose interval ended more than skew before or after now (the
// scaler's clock): a stale report describes load that is gone, and one from the future comes
// from a clock that cannot be trusted to place it.
func (r *Report) CheckAge(now time.Time, skew time.Duration) error {
	if age := now.Sub(r.Interval.End); age > skew || age < -skew {
		return &FieldError{Field: "interval.end", Detail: fmt.Sprintf("%s is %s from the scaler's clock %s, more than %s",
			r.Interval.End.Format(time.RFC3339Nano), age.Round(time.Millisecond), now.Format(time.RFC3339Nano), skew)}
	}
	return nil
}

// total is Total, and false when the sum wraps around.
func (r Requests) total() (uint64, bool) {
	var t uint64
	for _, n := range []uint64{r.Status2xx, r.Status3xx, r.Status4xx, r.Status5xx, r.TransportErrors} {
		if t+n < t {
			return 0, false
		}
		t += n
	}
	return t, true
}

func checkSum(field string, v float64) error {
	if !finiteNonNeg(v) {
		return &FieldError{Field: field, Detail: fmt.Sprintf("%v must be finite and not negative", v)}
	}
	return nil
}

func finiteNonNeg(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// Decode reads one JSON report of at most MaxReportBytes from r and validates it. Errors are
// ErrTooLarge (413), a *FieldError naming the invalid field, or a syntax error (both 400).
func Decode(r io.Reader) (*Report, error) {
	lr := &io.LimitedReader{R: r, N: MaxReportBytes + 1}
	b, err := io.ReadAll(lr)
	if err != nil {
		return nil, fmt.Errorf("reading report: %w", err)
	}
	if len(b) > MaxReportBytes {
		return nil, ErrTooLarge
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, fmt.Errorf("decoding report: %w", err)
	}
	if err := rep.Validate(); err != nil {
		return nil, err
	}
	return &rep, nil
}

// Encode writes r as JSON.
func Encode(w io.Writer, r *Report) error {
	return json.NewEncoder(w).Encode(r)
}
