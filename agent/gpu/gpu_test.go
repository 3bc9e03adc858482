package gpu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

// fakeGPU is a whole GPU with fixed readings and everything but GPM supported; noPower makes
// power unsupported.
func fakeGPU(index int, util uint32, used, total uint64, noPower bool) *mock.Device {
	return &mock.Device{
		GetIndexFunc:          func() (int, nvml.Return) { return index, nvml.SUCCESS },
		GetUUIDFunc:           func() (string, nvml.Return) { return fmt.Sprintf("GPU-%d", index), nvml.SUCCESS },
		IsMigDeviceHandleFunc: func() (bool, nvml.Return) { return false, nvml.SUCCESS },
		GetMigModeFunc:        func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED },
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: util, Memory: util / 2}, nvml.SUCCESS
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Used: used, Total: total, Free: total - used}, nvml.SUCCESS
		},
		GetPowerUsageFunc: func() (uint32, nvml.Return) {
			if noPower {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
			return 350500, nvml.SUCCESS
		},
		GetEnforcedPowerLimitFunc: func() (uint32, nvml.Return) {
			if noPower {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
			return 700000, nvml.SUCCESS
		},
		GetClockInfoFunc:    func(nvml.ClockType) (uint32, nvml.Return) { return 1755, nvml.SUCCESS },
		GetMaxClockInfoFunc: func(nvml.ClockType) (uint32, nvml.Return) { return 1980, nvml.SUCCESS },
		GetCurrentClocksEventReasonsFunc: func() (uint64, nvml.Return) {
			return nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown, nvml.SUCCESS
		},
		GpmQueryDeviceSupportFunc: func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{}, nvml.SUCCESS },
	}
}

// fakeMIGParent puts gpu in MIG mode with slices in the given slots; a nil slot is empty, and
// slot noPermission holds another container's slice.
func fakeMIGParent(gpu *mock.Device, noPermission int, slices ...*mock.Device) {
	gpu.GetMigModeFunc = func() (int, int, nvml.Return) { return nvml.DEVICE_MIG_ENABLE, nvml.DEVICE_MIG_ENABLE, nvml.SUCCESS }
	gpu.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return len(slices), nvml.SUCCESS }
	gpu.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		switch {
		case i < 0 || i >= len(slices):
			return nil, nvml.ERROR_INVALID_ARGUMENT
		case i == noPermission:
			return nil, nvml.ERROR_NO_PERMISSION
		case slices[i] == nil:
			return nil, nvml.ERROR_NOT_FOUND
		}
		return slices[i], nvml.SUCCESS
	}
	gpu.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
}

// fakeMIG is a MIG slice of parent in GPU instance gi. Utilization, power and clocks answer
// as NVML does on a slice: not supported, so a read of them is a bug the test sees.
func fakeMIG(parent *mock.Device, uuid string, gi int, used, total uint64) *mock.Device {
	return &mock.Device{
		GetUUIDFunc:                            func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		IsMigDeviceHandleFunc:                  func() (bool, nvml.Return) { return true, nvml.SUCCESS },
		GetDeviceHandleFromMigDeviceHandleFunc: func() (nvml.Device, nvml.Return) { return parent, nvml.SUCCESS },
		GetGpuInstanceIdFunc:                   func() (int, nvml.Return) { return gi, nvml.SUCCESS },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Used: used, Total: total, Free: total - used}, nvml.SUCCESS
		},
	}
}

// fakeLib serves devs and records whether anything was called before Init succeeded.
func fakeLib(t *testing.T, initRet nvml.Return, devs ...*mock.Device) *mock.Interface {
	inited := false
	guard := func() {
		if !inited {
			t.Error("NVML called before Init succeeded")
		}
	}
	byUUID := map[string]*mock.Device{}
	for _, d := range devs {
		u, _ := d.GetUUID()
		byUUID[u] = d
		if d.GetMigDeviceHandleByIndexFunc != nil {
			n, _ := d.GetMaxMigDeviceCount()
			for i := range n {
				if m, ret := d.GetMigDeviceHandleByIndex(i); ret == nvml.SUCCESS {
					u, _ := m.GetUUID()
					byUUID[u] = m.(*mock.Device)
				}
			}
		}
	}
	return &mock.Interface{
		InitFunc: func() nvml.Return {
			inited = initRet == nvml.SUCCESS
			return initRet
		},
		ShutdownFunc:       func() nvml.Return { guard(); return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { guard(); return len(devs), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			guard()
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
		DeviceGetHandleByUUIDFunc: func(u string) (nvml.Device, nvml.Return) {
			guard()
			if d, ok := byUUID[u]; ok {
				return d, nvml.SUCCESS
			}
			return nil, nvml.ERROR_NOT_FOUND
		},
		GpmSampleAllocFunc: func() (nvml.GpmSample, nvml.Return) {
			t.Error("GPM sample allocated for a GPU without GPM")
			return nil, nvml.ERROR_NOT_SUPPORTED
		},
	}
}

func uuids(gpus []reportv1.GPU) []string {
	var out []string
	for _, g := range gpus {
		out = append(out, g.UUID)
	}
	return out
}

func TestSampleSeveralGPUs(t *testing.T) {
	lib := fakeLib(t, nvml.SUCCESS,
		fakeGPU(0, 87, 60<<30, 80<<30, false),
		fakeGPU(1, 12, 1<<30, 80<<30, true),
		fakeGPU(2, 100, 80<<30, 80<<30, false))
	s, err := Open(lib, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d GPUs, want 3", len(got))
	}
	g := got[0]
	if g.UUID != "GPU-0" || g.MIG || *g.UtilizationPercent != 87 || g.MemoryUsedBytes != 60<<30 || g.MemoryTotalBytes != 80<<30 ||
		*g.PowerWatts != 350.5 || *g.PowerLimitWatts != 700 || *g.SMClockMHz != 1755 || *g.SMClockMaxMHz != 1980 {
		t.Errorf("GPU 0: %+v", g)
	}
	if !reflect.DeepEqual(g.ThrottleReasons, []string{"SwPowerCap", "HwThermalSlowdown"}) {
		t.Errorf("GPU 0 throttle reasons %v", g.ThrottleReasons)
	}
	if p, ok := g.Signal(reportv1.GPUPowerUtilization); !ok || p != 50.07142857142857 {
		t.Errorf("GPU 0 power utilization %v %v", p, ok)
	}
	if got[1].PowerWatts != nil || got[1].PowerLimitWatts != nil || *got[1].UtilizationPercent != 12 {
		t.Errorf("GPU 1 (no power reading): %+v", got[1])
	}
	if got[2].MemoryUtilizationPercent() != 100 {
		t.Errorf("GPU 2 memory %v%%", got[2].MemoryUtilizationPercent())
	}
	for _, g := range got {
		if g.SMActivityPercent != nil || g.SMOccupancyPercent != nil || g.TensorActivityPercent != nil {
			t.Errorf("%s: GPM values without GPM: %+v", g.UUID, g)
		}
	}
}

// On a node of several GPUs the pod owns one: only that one is read, the others never.
func TestOpenReadsOnlyThePodsGPU(t *testing.T) {
	devs := []*mock.Device{fakeGPU(0, 1, 0, 1, false), fakeGPU(1, 2, 0, 1, false), fakeGPU(2, 3, 0, 1, false), fakeGPU(3, 4, 0, 1, false)}
	s, err := Open(fakeLib(t, nvml.SUCCESS, devs...), []string{"GPU-2"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Sample()
	if len(got) != 1 || got[0].UUID != "GPU-2" || *got[0].UtilizationPercent != 3 {
		t.Fatalf("sampled %+v, want GPU-2 alone", got)
	}
	for i, d := range devs {
		if n := len(d.GetUtilizationRatesCalls()) + len(d.GetMemoryInfoCalls()); (n > 0) != (i == 2) {
			t.Errorf("GPU %d read %d times", i, n)
		}
	}

	s, err = Open(fakeLib(t, nvml.SUCCESS, devs...), []string{"GPU-3", "0"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.Sample()
	if !reflect.DeepEqual(uuids(got), []string{"GPU-3", "GPU-0"}) {
		t.Errorf("sampled %v, want GPU-3 and GPU-0", uuids(got))
	}
	for _, ids := range [][]string{{"GPU-9"}, {"7"}, {"x:1"}} {
		if _, err := Open(fakeLib(t, nvml.SUCCESS, fakeGPU(0, 1, 0, 1, false)), ids); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("%v: %v, want an error naming the device", ids, err)
		}
	}
}

func TestMIGSlices(t *testing.T) {
	parent := fakeGPU(0, 0, 0, 80<<30, false)
	mine := fakeMIG(parent, "MIG-mine", 5, 3<<30, 10<<30)
	other := fakeMIG(parent, "MIG-other", 6, 9<<30, 10<<30)
	fakeMIGParent(parent, 2, mine, nil, other)
	whole := fakeGPU(1, 40, 1<<30, 80<<30, false)

	for name, ids := range map[string][]string{
		"every device NVML shows": nil,
		"by MIG UUID":             {"MIG-mine", "GPU-1"},
		"by index":                {"0:0", "1"},
	} {
		s, err := Open(fakeLib(t, nvml.SUCCESS, parent, whole), ids)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := s.Sample()
		if err != nil || len(got) != 2 {
			t.Fatalf("%s: %+v %v, want the slice and GPU 1", name, got, err)
		}
		m := got[0]
		if m.UUID != "MIG-mine" || !m.MIG || m.ParentUUID != "GPU-0" || m.Index != 0 || m.MemoryUsedBytes != 3<<30 || m.MemoryTotalBytes != 10<<30 {
			t.Errorf("%s: slice %+v", name, m)
		}
		// The parent's utilization, power and clocks are its neighbours' too.
		if m.UtilizationPercent != nil || m.PowerWatts != nil || m.SMClockMHz != nil || m.ThrottleReasons != nil {
			t.Errorf("%s: slice carries whole-GPU readings: %+v", name, m)
		}
		if got[1].UUID != "GPU-1" || got[1].MIG || *got[1].UtilizationPercent != 40 {
			t.Errorf("%s: GPU 1 %+v", name, got[1])
		}
		s.Close()
	}
	if len(other.GetMemoryInfoCalls()) != 0 || len(parent.GetMemoryInfoCalls()) != 0 {
		t.Error("another container's slice or the MIG parent was read")
	}
}

// fakeGPM gives devs GPM: samples remember when they were taken, and the metrics are a
// function of the two samples compared, so a reading from the wrong pair shows.
func fakeGPM(t *testing.T, lib *mock.Interface, devs ...*mock.Device) (freed *int) {
	taken := map[nvml.GpmSample]int{}
	clock := 0
	freed = new(int)
	lib.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		return &mock.GpmSample{FreeFunc: func() nvml.Return { *freed++; return nvml.SUCCESS }}, nvml.SUCCESS
	}
	take := func(s nvml.GpmSample) nvml.Return { clock++; taken[s] = clock; return nvml.SUCCESS }
	for _, d := range devs {
		d.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
			return nvml.GpmSupport{IsSupportedDevice: 1}, nvml.SUCCESS
		}
		d.GpmSampleGetFunc = take
		d.GpmMigSampleGetFunc = func(gi int, s nvml.GpmSample) nvml.Return {
			if gi != 5 {
				t.Errorf("GPM sample of GPU instance %d, want the slice's 5", gi)
			}
			return take(s)
		}
	}
	lib.GpmMetricsGetFunc = func(q *nvml.GpmMetricsGetType) nvml.Return {
		a, b := taken[q.Sample1], taken[q.Sample2]
		if a == 0 || b <= a {
			t.Errorf("GPM metrics between samples taken at %d and %d", a, b)
		}
		for i := range q.NumMetrics {
			m := &q.Metrics[i]
			switch nvml.GpmMetricId(m.MetricId) {
			case nvml.GPM_METRIC_SM_UTIL:
				m.Value = float64(30 * b)
			case nvml.GPM_METRIC_SM_OCCUPANCY:
				m.Value = float64(b)
			case nvml.GPM_METRIC_ANY_TENSOR_UTIL:
				m.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			default:
				t.Errorf("unexpected GPM metric %d", m.MetricId)
			}
		}
		return nvml.SUCCESS
	}
	return freed
}

func TestGPM(t *testing.T) {
	hopper := fakeGPU(0, 50, 0, 1, false)
	older := fakeGPU(1, 50, 0, 1, false)
	parent := fakeGPU(2, 0, 0, 1, false)
	slice := fakeMIG(parent, "MIG-x", 5, 1, 2)
	fakeMIGParent(parent, -1, slice)
	lib := fakeLib(t, nvml.SUCCESS, hopper, older, parent)
	freed := fakeGPM(t, lib, hopper, parent)
	older.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{}, nvml.ERROR_NOT_SUPPORTED }

	s, err := Open(lib, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.Sample()
	for _, g := range first {
		if g.SMActivityPercent != nil {
			t.Errorf("%s: GPM value from a single sample", g.UUID)
		}
	}
	second, err := s.Sample()
	if err != nil || len(second) != 3 {
		t.Fatalf("%+v %v", second, err)
	}
	// The first read took samples 1 (hopper) and 2 (the slice), the second 3 and 4.
	if g := second[0]; g.SMActivityPercent == nil || *g.SMActivityPercent != 90 || *g.SMOccupancyPercent != 3 || g.TensorActivityPercent != nil {
		t.Errorf("hopper: %+v", g)
	}
	if g := second[1]; g.SMActivityPercent != nil || g.SMOccupancyPercent != nil {
		t.Errorf("GPU without GPM reports GPM: %+v", g)
	}
	// A percent is clamped: the slice's 30×4 would be 120.
	if g := second[2]; g.SMActivityPercent == nil || *g.SMActivityPercent != 100 || *g.SMOccupancyPercent != 4 {
		t.Errorf("MIG slice: %+v", g)
	}
	third, _ := s.Sample()
	if *third[0].SMOccupancyPercent != 5 { // hopper's samples 3 and 5
		t.Errorf("third read %v", *third[0].SMOccupancyPercent)
	}
	if err := s.Close(); err != nil || *freed != 4 {
		t.Errorf("close: %v, %d GPM samples freed, want 4", err, *freed)
	}
}

func TestUnavailable(t *testing.T) {
	for name, lib := range map[string]*mock.Interface{
		"library absent": fakeLib(t, nvml.ERROR_LIBRARY_NOT_FOUND),
		"no driver":      fakeLib(t, nvml.ERROR_DRIVER_NOT_LOADED),
		"init fails":     fakeLib(t, nvml.ERROR_UNKNOWN),
		"no GPU":         fakeLib(t, nvml.SUCCESS),
	} {
		_, err := Open(lib, nil)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
		if name != "no GPU" && len(lib.ShutdownCalls()) != 0 {
			t.Errorf("%s: Shutdown called without Init", name)
		}
		if name == "no GPU" && len(lib.ShutdownCalls()) != 1 {
			t.Errorf("%s: NVML left initialised", name)
		}
	}
	// A real library that is absent: go-nvml's loader fails and Init says so.
	if _, err := Open(nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1")), nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("absent library file: %v", err)
	}
}

// A device that falls off the bus mid-run is left out from then on, named in the error; the
// others keep reporting, and GPM starts over when the device answers again.
func TestDeviceLostMidRun(t *testing.T) {
	healthy, lost := fakeGPU(0, 50, 0, 1, false), fakeGPU(1, 60, 0, 1, false)
	lib := fakeLib(t, nvml.SUCCESS, healthy, lost)
	fakeGPM(t, lib, lost)
	s, err := Open(lib, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Sample(); err != nil || len(got) != 2 {
		t.Fatalf("before: %d GPUs, %v", len(got), err)
	}
	gone := true
	lost.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		if gone {
			return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
		}
		return nvml.Memory{Total: 1}, nvml.SUCCESS
	}
	for range 2 {
		got, err := s.Sample()
		if !reflect.DeepEqual(uuids(got), []string{"GPU-0"}) || err == nil || !strings.Contains(err.Error(), "GPU-1") {
			t.Errorf("lost: %v, %v; want GPU-0 alone and an error naming GPU-1", uuids(got), err)
		}
	}
	lost.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_UNKNOWN }
	gone = false
	if got, err := s.Sample(); len(got) != 1 || err == nil {
		t.Errorf("utilization failing: %v %v", uuids(got), err)
	}
	lost.GetUtilizationRatesFunc = healthy.GetUtilizationRatesFunc
	got, err := s.Sample()
	if err != nil || len(got) != 2 || got[1].SMActivityPercent != nil {
		t.Errorf("back: %+v %v; want both, GPM only from the next pair of samples", got, err)
	}
}

type fakeKubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	getMissing bool
}

var podRes = &podresourcesv1.PodResources{
	Name: "llama-0", Namespace: "ai",
	Containers: []*podresourcesv1.ContainerResources{
		{Name: "model", Devices: []*podresourcesv1.ContainerDevices{
			{ResourceName: "nvidia.com/gpu", DeviceIds: []string{"GPU-a", "GPU-b"}},
			{ResourceName: "example.com/fpga", DeviceIds: []string{"fpga-0"}},
		}},
		{Name: "inferscale-agent"},
	},
}

func (f *fakeKubelet) Get(_ context.Context, r *podresourcesv1.GetPodResourcesRequest) (*podresourcesv1.GetPodResourcesResponse, error) {
	if f.getMissing {
		return nil, status.Error(codes.Unimplemented, "feature gate KubeletPodResourcesGet off")
	}
	if r.PodName != podRes.Name || r.PodNamespace != podRes.Namespace {
		return nil, status.Error(codes.NotFound, "no such pod")
	}
	return &podresourcesv1.GetPodResourcesResponse{PodResources: podRes}, nil
}

func (f *fakeKubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	other := &podresourcesv1.PodResources{Name: "other", Namespace: "ai"}
	return &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{other, podRes}}, nil
}

func TestPodGPUs(t *testing.T) {
	for _, getMissing := range []bool{false, true} {
		sock := filepath.Join(t.TempDir(), "kubelet.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		podresourcesv1.RegisterPodResourcesListerServer(srv, &fakeKubelet{getMissing: getMissing})
		go func() { _ = srv.Serve(ln) }()

		ids, err := PodGPUs(context.Background(), sock, "ai", "llama-0")
		if err != nil || !reflect.DeepEqual(ids, []string{"GPU-a", "GPU-b"}) {
			t.Errorf("getMissing=%v: %v %v", getMissing, ids, err)
		}
		if _, err := PodGPUs(context.Background(), sock, "ai", "gone"); err == nil {
			t.Errorf("getMissing=%v: unknown pod found", getMissing)
		}
		srv.Stop()
	}
}

func FuzzParsePodResources(f *testing.F) {
	b, _ := proto.Marshal(podRes)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, _ = parsePodResources(b) // must not panic
	})
}
