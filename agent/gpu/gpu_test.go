package gpu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// fakeGPU is a mock device with fixed readings; noPower makes power unsupported.
func fakeGPU(index int, util uint32, used, total uint64, noPower bool) *mock.Device {
	return &mock.Device{
		GetIndexFunc: func() (int, nvml.Return) { return index, nvml.SUCCESS },
		GetUUIDFunc:  func() (string, nvml.Return) { return fmt.Sprintf("GPU-%d", index), nvml.SUCCESS },
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
		GetClockInfoFunc: func(nvml.ClockType) (uint32, nvml.Return) { return 1980, nvml.SUCCESS },
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
	}
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
	if g := got[0]; g.UUID != "GPU-0" || g.UtilizationPercent != 87 || g.MemoryUsedBytes != 60<<30 || g.MemoryTotalBytes != 80<<30 || *g.PowerWatts != 350.5 || *g.SMClockMHz != 1980 {
		t.Errorf("GPU 0: %+v", g)
	}
	if got[1].PowerWatts != nil || got[1].UtilizationPercent != 12 {
		t.Errorf("GPU 1 (no power reading): %+v", got[1])
	}
	if got[2].MemoryUtilizationPercent() != 100 {
		t.Errorf("GPU 2 memory %v%%", got[2].MemoryUtilizationPercent())
	}
}

func TestOpenSelectsPodGPUs(t *testing.T) {
	lib := fakeLib(t, nvml.SUCCESS, fakeGPU(0, 1, 0, 1, false), fakeGPU(1, 2, 0, 1, false), fakeGPU(2, 3, 0, 1, false))
	s, err := Open(lib, []string{"GPU-2", "0"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Sample()
	var uuids []string
	for _, g := range got {
		uuids = append(uuids, g.UUID)
	}
	if !reflect.DeepEqual(uuids, []string{"GPU-2", "GPU-0"}) {
		t.Errorf("sampled %v, want GPU-2 and GPU-0", uuids)
	}
	if _, err := Open(fakeLib(t, nvml.SUCCESS, fakeGPU(0, 1, 0, 1, false)), []string{"GPU-9"}); err == nil {
		t.Error("unknown GPU accepted")
	}
}

func TestUnavailable(t *testing.T) {
	for name, lib := range map[string]*mock.Interface{
		"no library": fakeLib(t, nvml.ERROR_LIBRARY_NOT_FOUND),
		"no driver":  fakeLib(t, nvml.ERROR_DRIVER_NOT_LOADED),
		"no GPU":     fakeLib(t, nvml.SUCCESS),
	} {
		if _, err := Open(lib, nil); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
		if name != "no GPU" && len(lib.ShutdownCalls()) != 0 {
			t.Errorf("%s: Shutdown called without Init", name)
		}
	}
}

func TestSampleSkipsLostGPU(t *testing.T) {
	lost := fakeGPU(1, 0, 0, 1, false)
	lost.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST }
	s, err := Open(fakeLib(t, nvml.SUCCESS, fakeGPU(0, 50, 0, 1, false), lost), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Sample()
	if len(got) != 1 || err == nil {
		t.Errorf("got %d GPUs, err %v; want the healthy one and an error", len(got), err)
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
