// Package gpu samples the pod's GPUs and MIG slices through NVML, and finds which devices are
// the pod's through the kubelet's PodResources API.
package gpu

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// Library is the part of NVML the agent uses; nvml.New() and go-nvml's mock.Interface
// satisfy it.
type Library interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return)
	DeviceGetHandleByUUID(string) (nvml.Device, nvml.Return)
	GpmSampleAlloc() (nvml.GpmSample, nvml.Return)
	GpmMetricsGet(*nvml.GpmMetricsGetType) nvml.Return
}

// ErrUnavailable wraps every reason GPU reporting is off: no NVML library, no driver, no GPU.
var ErrUnavailable = errors.New("GPU reporting unavailable")

// Sampler reads a fixed set of GPUs and MIG slices.
type Sampler struct {
	lib     Library
	devices []*device
	// gpm is the request GpmMetricsGet fills; reused, it holds room for every GPM metric.
	gpm *nvml.GpmMetricsGetType
}

type device struct {
	h nvml.Device
	// parent is the GPU a MIG slice is part of, and gi its GPU instance; nil for a whole GPU.
	parent     nvml.Device
	parentUUID string
	gi         int
	index      int
	uuid       string
	// samples are GPM's previous and current samples; nil where the GPU has no GPM. GPM
	// metrics are computed between two samples, so the first read has none.
	samples [2]nvml.GpmSample
	primed  bool
}

// gpmMetrics are the GPM metrics read, in the order of GpmMetricsGetType.Metrics.
var gpmMetrics = [...]nvml.GpmMetricId{nvml.GPM_METRIC_SM_UTIL, nvml.GPM_METRIC_SM_OCCUPANCY, nvml.GPM_METRIC_ANY_TENSOR_UTIL}

// Open initialises NVML and resolves ids: GPU or MIG UUIDs, indexes, or "gpu:mig" indexes, as
// the NVIDIA device plugin names devices. No ids means every device NVML shows: each GPU, or
// for a GPU in MIG mode each of its slices this process may open. The error wraps
// ErrUnavailable when there is no library, no driver or no device. No NVML function is called
// unless Init succeeded.
func Open(lib Library, ids []string) (*Sampler, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: nvml init: %s", ErrUnavailable, ret.Error())
	}
	s := &Sampler{lib: lib}
	var err error
	if len(ids) == 0 {
		err = s.all()
	} else {
		err = s.resolve(ids)
	}
	if err == nil && len(s.devices) == 0 {
		err = fmt.Errorf("%w: no GPU visible", ErrUnavailable)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, d := range s.devices {
		s.enableGPM(d)
	}
	return s, nil
}

// all adds every device NVML shows.
func (s *Sampler) all() error {
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("%w: counting GPUs: %s", ErrUnavailable, ret.Error())
	}
	for i := range n {
		d, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret == nvml.ERROR_NO_PERMISSION {
			continue // a GPU whose device node the runtime did not give this container
		}
		if ret != nvml.SUCCESS {
			return fmt.Errorf("GPU %d: %s", i, ret.Error())
		}
		if !migEnabled(d) {
			if err := s.add(d, strconv.Itoa(i)); err != nil {
				return err
			}
			continue
		}
		slots, ret := d.GetMaxMigDeviceCount()
		if ret != nvml.SUCCESS {
			return fmt.Errorf("GPU %d: MIG devices: %s", i, ret.Error())
		}
		for j := range slots {
			m, ret := d.GetMigDeviceHandleByIndex(j)
			if ret != nvml.SUCCESS {
				continue // an empty slot, or another container's slice
			}
			if err := s.add(m, fmt.Sprintf("%d:%d", i, j)); err != nil {
				return err
			}
		}
	}
	return nil
}

func migEnabled(d nvml.Device) bool {
	current, _, ret := d.GetMigMode()
	return ret == nvml.SUCCESS && current == nvml.DEVICE_MIG_ENABLE
}

func (s *Sampler) resolve(ids []string) error {
	for _, id := range ids {
		d, ret := s.handle(id)
		if ret != nvml.SUCCESS {
			return fmt.Errorf("GPU %q: %s", id, ret.Error())
		}
		if err := s.add(d, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sampler) handle(id string) (nvml.Device, nvml.Return) {
	if i, err := strconv.Atoi(id); err == nil {
		return s.lib.DeviceGetHandleByIndex(i)
	}
	if gpu, mig, ok := strings.Cut(id, ":"); ok {
		i, err1 := strconv.Atoi(gpu)
		j, err2 := strconv.Atoi(mig)
		if err1 != nil || err2 != nil {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		d, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, ret
		}
		return d.GetMigDeviceHandleByIndex(j)
	}
	return s.lib.DeviceGetHandleByUUID(id)
}

// add records device d, named id in errors.
func (s *Sampler) add(d nvml.Device, id string) error {
	dev := &device{h: d}
	var ret nvml.Return
	if dev.uuid, ret = d.GetUUID(); ret != nvml.SUCCESS {
		return fmt.Errorf("GPU %q: uuid: %s", id, ret.Error())
	}
	for _, other := range s.devices {
		if other.uuid == dev.uuid {
			return nil // named twice, by index and by UUID
		}
	}
	index := d
	if isMIG, ret := d.IsMigDeviceHandle(); ret == nvml.SUCCESS && isMIG {
		if dev.parent, ret = d.GetDeviceHandleFromMigDeviceHandle(); ret != nvml.SUCCESS {
			return fmt.Errorf("MIG device %s: its GPU: %s", dev.uuid, ret.Error())
		}
		if dev.parentUUID, ret = dev.parent.GetUUID(); ret != nvml.SUCCESS {
			return fmt.Errorf("MIG device %s: its GPU's uuid: %s", dev.uuid, ret.Error())
		}
		if dev.gi, ret = d.GetGpuInstanceId(); ret != nvml.SUCCESS {
			return fmt.Errorf("MIG device %s: GPU instance: %s", dev.uuid, ret.Error())
		}
		index = dev.parent // a slice reports the index of its GPU
	}
	if dev.index, ret = index.GetIndex(); ret != nvml.SUCCESS {
		dev.index = len(s.devices)
	}
	s.devices = append(s.devices, dev)
	return nil
}

// enableGPM allocates d's GPM samples where its GPU supports GPM (Hopper and newer).
func (s *Sampler) enableGPM(d *device) {
	gpu := d.h
	if d.parent != nil {
		gpu = d.parent
	}
	support, ret := gpu.GpmQueryDeviceSupport()
	if ret != nvml.SUCCESS || support.IsSupportedDevice == 0 {
		return
	}
	for i := range d.samples {
		sample, ret := s.lib.GpmSampleAlloc()
		if ret != nvml.SUCCESS {
			freeSamples(d)
			return
		}
		d.samples[i] = sample
	}
	if s.gpm == nil {
		s.gpm = new(nvml.GpmMetricsGetType)
	}
}

func freeSamples(d *device) {
	for i, sample := range d.samples {
		if sample != nil {
			sample.Free()
			d.samples[i] = nil
		}
	}
}

// Sample reads every device once. A device whose memory (or, for a whole GPU, utilization)
// cannot be read, having fallen off the bus or been reset, is left out of this sample and
// named in the error; every other reading is left out where the device does not support it.
func (s *Sampler) Sample() ([]reportv1.GPU, error) {
	out := make([]reportv1.GPU, 0, len(s.devices))
	var errs []error
	for _, d := range s.devices {
		g, err := s.read(d)
		if err != nil {
			errs = append(errs, err)
			d.primed = false
			continue
		}
		out = append(out, g)
	}
	return out, errors.Join(errs...)
}

func (s *Sampler) read(d *device) (reportv1.GPU, error) {
	m, ret := d.h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return reportv1.GPU{}, fmt.Errorf("GPU %s memory: %s", d.uuid, ret.Error())
	}
	g := reportv1.GPU{
		Index:            d.index,
		UUID:             d.uuid,
		MIG:              d.parent != nil,
		ParentUUID:       d.parentUUID,
		MemoryUsedBytes:  min(m.Used, m.Total),
		MemoryTotalBytes: m.Total,
	}
	// Utilization, power and clocks belong to the whole GPU: a slice shares them with its
	// neighbours, so they are not the pod's and are left out.
	if d.parent == nil {
		u, ret := d.h.GetUtilizationRates()
		switch ret {
		case nvml.SUCCESS:
			g.UtilizationPercent = percent(float64(u.Gpu))
		case nvml.ERROR_NOT_SUPPORTED:
		default:
			return reportv1.GPU{}, fmt.Errorf("GPU %s utilization: %s", d.uuid, ret.Error())
		}
		if mw, ret := d.h.GetPowerUsage(); ret == nvml.SUCCESS {
			g.PowerWatts = watts(mw)
		}
		if mw, ret := d.h.GetEnforcedPowerLimit(); ret == nvml.SUCCESS && mw > 0 {
			g.PowerLimitWatts = watts(mw)
		}
		if mhz, ret := d.h.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
			g.SMClockMHz = &mhz
		}
		if mhz, ret := d.h.GetMaxClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS && mhz > 0 {
			g.SMClockMaxMHz = &mhz
		}
		if bits, ret := d.h.GetCurrentClocksEventReasons(); ret == nvml.SUCCESS {
			g.ThrottleReasons = throttleReasons(bits)
		}
	}
	if d.samples[0] != nil {
		s.readGPM(d, &g)
	}
	return g, nil
}

// readGPM takes a GPM sample and, with the previous one, fills the GPM activities.
func (s *Sampler) readGPM(d *device, g *reportv1.GPU) {
	cur := d.samples[1]
	var ret nvml.Return
	if d.parent != nil {
		ret = d.parent.GpmMigSampleGet(d.gi, cur)
	} else {
		ret = d.h.GpmSampleGet(cur)
	}
	if ret != nvml.SUCCESS {
		d.primed = false
		return
	}
	if d.primed {
		q := s.gpm
		q.NumMetrics, q.Sample1, q.Sample2 = uint32(len(gpmMetrics)), d.samples[0], cur
		for i, id := range gpmMetrics {
			q.Metrics[i] = nvml.GpmMetric{MetricId: uint32(id)}
		}
		if s.lib.GpmMetricsGet(q) == nvml.SUCCESS {
			dst := [...]**float64{&g.SMActivityPercent, &g.SMOccupancyPercent, &g.TensorActivityPercent}
			for i := range gpmMetrics {
				if r := q.Metrics[i]; nvml.Return(r.NvmlReturn) == nvml.SUCCESS && !math.IsNaN(r.Value) {
					*dst[i] = percent(r.Value)
				}
			}
		}
	}
	d.samples[0], d.samples[1] = cur, d.samples[0]
	d.primed = true
}

func percent(v float64) *float64 {
	v = min(max(v, 0), 100)
	return &v
}

func watts(mw uint32) *float64 {
	w := float64(mw) / 1000
	return &w
}

// clockEventReasons names NVML's clock event (throttle) reasons, bit by bit.
var clockEventReasons = []struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "GpuIdle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "ApplicationsClocksSetting"},
	{nvml.ClocksEventReasonSwPowerCap, "SwPowerCap"},
	{nvml.ClocksThrottleReasonHwSlowdown, "HwSlowdown"},
	{nvml.ClocksEventReasonSyncBoost, "SyncBoost"},
	{nvml.ClocksEventReasonSwThermalSlowdown, "SwThermalSlowdown"},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, "HwThermalSlowdown"},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "HwPowerBrakeSlowdown"},
	{nvml.ClocksEventReasonDisplayClockSetting, "DisplayClockSetting"},
	{nvml.ClocksEventReasonBoardLimit, "BoardLimit"},
	{nvml.ClocksEventReasonReliability, "Reliability"},
}

func throttleReasons(bits uint64) []string {
	var out []string
	for _, r := range clockEventReasons {
		if bits&r.bit != 0 {
			out = append(out, r.name)
		}
	}
	return out
}

// Len is the number of devices sampled.
func (s *Sampler) Len() int { return len(s.devices) }

// Close frees the GPM samples and shuts NVML down.
func (s *Sampler) Close() error {
	for _, d := range s.devices {
		freeSamples(d)
	}
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %s", ret.Error())
	}
	return nil
}
