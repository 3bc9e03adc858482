package gpu

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	reportv1 "github.com/inferscale/inferscale/api/report/v1"
)

func TestGaugesExportTheSampleByUUID(t *testing.T) {
	parent := fakeGPU(0, 0, 0, 80<<30, false)
	fakeMIGParent(parent, -1, fakeMIG(parent, "MIG-a", 1, 2<<30, 10<<30))
	s, err := Open(fakeLib(t, nvml.SUCCESS, parent, fakeGPU(1, 42, 1<<30, 80<<30, true)), []string{"MIG-a", "1", "GPU-1"})
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := s.Sample()
	if err != nil {
		t.Fatal(err)
	}
	var g Gauges
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&g)
	g.Set(gpus, reportv1.GPUAttributionPodResources)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, mf.GetName()+"{"+strings.Join(labels, ",")+"} "+strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64))
		}
	}
	sort.Strings(got)
	want := []string{
		"inferscale_agent_gpu_clock_event_reason{reason=HwThermalSlowdown,uuid=GPU-1} 1",
		"inferscale_agent_gpu_clock_event_reason{reason=SwPowerCap,uuid=GPU-1} 1",
		"inferscale_agent_gpu_info{attribution=PodResources,index=0,mig=true,parent_uuid=GPU-0,uuid=MIG-a} 1",
		"inferscale_agent_gpu_info{attribution=PodResources,index=1,mig=false,parent_uuid=,uuid=GPU-1} 1",
		"inferscale_agent_gpu_memory_total_bytes{uuid=GPU-1} 85899345920",
		"inferscale_agent_gpu_memory_total_bytes{uuid=MIG-a} 10737418240",
		"inferscale_agent_gpu_memory_used_bytes{uuid=GPU-1} 1073741824",
		"inferscale_agent_gpu_memory_used_bytes{uuid=MIG-a} 2147483648",
		"inferscale_agent_gpu_sm_clock_max_mhz{uuid=GPU-1} 1980",
		"inferscale_agent_gpu_sm_clock_mhz{uuid=GPU-1} 1755",
		"inferscale_agent_gpu_utilization_percent{uuid=GPU-1} 42",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exported:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	g.Set(nil, "")
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("series left after an empty sample: %v", mfs)
	}
}
