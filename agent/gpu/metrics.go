package gpu

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Gauges exports the last sample on /metrics, one series per device labelled by its UUID, so
// the agent's reading can be compared with DCGM exporter's. A reading the device does not
// report has no series. Scrapes never call NVML: they read what the report loop sampled.
type Gauges struct {
	mu          sync.Mutex
	gpus        []reportv1.GPU
	attribution string
}

// Set replaces the exported sample.
func (g *Gauges) Set(gpus []reportv1.GPU, attribution string) {
	g.mu.Lock()
	g.gpus, g.attribution = gpus, attribution
	g.mu.Unlock()
}

var (
	uuidLabel = []string{"uuid"}
	gpuInfo   = prometheus.NewDesc("inferscale_agent_gpu_info",
		"A device the agent reads: its index, whether it is a MIG slice and of which GPU, and how the agent knows it is the pod's (DRA, PodResources, Unattributed).",
		[]string{"uuid", "index", "mig", "parent_uuid", "attribution"}, nil)
	gpuThrottle = prometheus.NewDesc("inferscale_agent_gpu_clock_event_reason",
		"1 for each NVML clock event (throttle) reason now active.", []string{"uuid", "reason"}, nil)
	gpuMemoryUsed  = gauge("memory_used_bytes", "Device memory in use.")
	gpuMemoryTotal = gauge("memory_total_bytes", "Device memory in total.")
	gpuGauges      = []struct {
		desc *prometheus.Desc
		get  func(*reportv1.GPU) (float64, bool)
	}{
		{gauge("utilization_percent", "NVML utilization.gpu: the share of time a kernel ran."), signal(reportv1.GPUUtilization)},
		{gauge("sm_activity_percent", "GPM SM activity: the share of SMs busy (Hopper and newer)."), signal(reportv1.GPUSMActivity)},
		{gauge("sm_occupancy_percent", "GPM SM occupancy: resident warps of the maximum (Hopper and newer)."), signal(reportv1.GPUSMOccupancy)},
		{gauge("tensor_activity_percent", "GPM tensor activity: the share of time the tensor pipes were busy (Hopper and newer)."), signal(reportv1.GPUTensorActivity)},
		{gauge("power_watts", "Power draw."), optional(func(g *reportv1.GPU) *float64 { return g.PowerWatts })},
		{gauge("power_limit_watts", "Enforced power limit."), optional(func(g *reportv1.GPU) *float64 { return g.PowerLimitWatts })},
		{gauge("sm_clock_mhz", "SM clock."), clock(func(g *reportv1.GPU) *uint32 { return g.SMClockMHz })},
		{gauge("sm_clock_max_mhz", "Maximum SM clock."), clock(func(g *reportv1.GPU) *uint32 { return g.SMClockMaxMHz })},
	}
)

func gauge(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("inferscale_agent_gpu_"+name, help, uuidLabel, nil)
}

func signal(s reportv1.GPUSignal) func(*reportv1.GPU) (float64, bool) {
	return func(g *reportv1.GPU) (float64, bool) { return g.Signal(s) }
}

func optional(f func(*reportv1.GPU) *float64) func(*reportv1.GPU) (float64, bool) {
	return func(g *reportv1.GPU) (float64, bool) {
		if p := f(g); p != nil {
			return *p, true
		}
		return 0, false
	}
}

func clock(f func(*reportv1.GPU) *uint32) func(*reportv1.GPU) (float64, bool) {
	return func(g *reportv1.GPU) (float64, bool) {
		if p := f(g); p != nil {
			return float64(*p), true
		}
		return 0, false
	}
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- gpuInfo
	ch <- gpuThrottle
	ch <- gpuMemoryUsed
	ch <- gpuMemoryTotal
	for _, m := range gpuGauges {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	gpus, attribution := g.gpus, g.attribution
	g.mu.Unlock()
	for i := range gpus {
		d := &gpus[i]
		ch <- prometheus.MustNewConstMetric(gpuInfo, prometheus.GaugeValue, 1,
			d.UUID, strconv.Itoa(d.Index), strconv.FormatBool(d.MIG), d.ParentUUID, attribution)
		ch <- prometheus.MustNewConstMetric(gpuMemoryUsed, prometheus.GaugeValue, float64(d.MemoryUsedBytes), d.UUID)
		ch <- prometheus.MustNewConstMetric(gpuMemoryTotal, prometheus.GaugeValue, float64(d.MemoryTotalBytes), d.UUID)
		for _, m := range gpuGauges {
			if v, ok := m.get(d); ok {
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v, d.UUID)
			}
		}
		for _, r := range d.ThrottleReasons {
			ch <- prometheus.MustNewConstMetric(gpuThrottle, prometheus.GaugeValue, 1, d.UUID, r)
		}
	}
}
