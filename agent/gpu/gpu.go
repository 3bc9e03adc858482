// Package gpu samples the pod's GPUs through NVML and finds which GPUs are the pod's through
// the kubelet's PodResources API.
package gpu

import (
	"errors"
	"fmt"
	"strconv"

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
}

// ErrUnavailable wraps every reason GPU reporting is off: no NVML library, no driver, no GPU.
var ErrUnavailable = errors.New("GPU reporting unavailable")

// Sampler reads the utilization and memory of a fixed set of GPUs.
type Sampler struct {
	lib     Library
	devices []device
}

type device struct {
	nvml.Device
	index int
	uuid  string
}

// Open initialises NVML and resolves ids (GPU or MIG UUIDs, or indexes, as the device plugin
// names them); no ids means every GPU NVML sees. The error wraps ErrUnavailable when there is
// no library, no driver or no GPU. No NVML function is called unless Init succeeded.
func Open(lib Library, ids []string) (*Sampler, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: nvml init: %s", ErrUnavailable, ret.Error())
	}
	s := &Sampler{lib: lib}
	err := s.resolve(ids)
	if err == nil && len(s.devices) == 0 {
		err = fmt.Errorf("%w: no GPU visible", ErrUnavailable)
	}
	if err != nil {
		lib.Shutdown()
		return nil, err
	}
	return s, nil
}

func (s *Sampler) resolve(ids []string) error {
	if len(ids) == 0 {
		n, ret := s.lib.DeviceGetCount()
		if ret != nvml.SUCCESS {
			return fmt.Errorf("%w: counting GPUs: %s", ErrUnavailable, ret.Error())
		}
		for i := range n {
			ids = append(ids, strconv.Itoa(i))
		}
	}
	for _, id := range ids {
		var d nvml.Device
		var ret nvml.Return
		if i, err := strconv.Atoi(id); err == nil {
			d, ret = s.lib.DeviceGetHandleByIndex(i)
		} else {
			d, ret = s.lib.DeviceGetHandleByUUID(id)
		}
		if ret != nvml.SUCCESS {
			return fmt.Errorf("GPU %q: %s", id, ret.Error())
		}
		dev := device{Device: d}
		if dev.index, ret = d.GetIndex(); ret != nvml.SUCCESS {
			// MIG devices have no index of their own; keep the order given.
			dev.index = len(s.devices)
		}
		if dev.uuid, ret = d.GetUUID(); ret != nvml.SUCCESS {
			return fmt.Errorf("GPU %q: uuid: %s", id, ret.Error())
		}
		s.devices = append(s.devices, dev)
	}
	return nil
}

// Sample reads every GPU once. A GPU whose utilization or memory cannot be read (fallen off
// the bus, reset) is left out of this sample and named in the error; power and clock are
// optional and left out where unsupported.
func (s *Sampler) Sample() ([]reportv1.GPU, error) {
	out := make([]reportv1.GPU, 0, len(s.devices))
	var errs []error
	for _, d := range s.devices {
		u, ret := d.GetUtilizationRates()
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("GPU %s utilization: %s", d.uuid, ret.Error()))
			continue
		}
		m, ret := d.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("GPU %s memory: %s", d.uuid, ret.Error()))
			continue
		}
		g := reportv1.GPU{
			Index:              d.index,
			UUID:               d.uuid,
			UtilizationPercent: float64(min(u.Gpu, 100)),
			MemoryUsedBytes:    min(m.Used, m.Total),
			MemoryTotalBytes:   m.Total,
		}
		if mw, ret := d.GetPowerUsage(); ret == nvml.SUCCESS {
			w := float64(mw) / 1000
			g.PowerWatts = &w
		}
		if mhz, ret := d.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
			g.SMClockMHz = &mhz
		}
		out = append(out, g)
	}
	return out, errors.Join(errs...)
}

// Len is the number of GPUs sampled.
func (s *Sampler) Len() int { return len(s.devices) }

// Close shuts NVML down.
func (s *Sampler) Close() error {
	if ret := s.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %s", ret.Error())
	}
	return nil
}
