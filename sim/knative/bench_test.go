package knative

import (
	"os"
	"testing"

	"github.com/inferscale/inferscale/sim"
	"github.com/inferscale/inferscale/sim/scenario"
	"github.com/inferscale/inferscale/sim/workload"
)

// BenchmarkAzureHourTimes10 is the simulator's performance target: the hour of the Azure code
// trace at 10× its rate (88k requests) through every autoscaler (inferscale, hpa-cpu, keda,
// kpa) and the oracle, its capacity calibration included. Run it on one core:
// go test -run '^$' -bench AzureHour -cpu 1 ./...
func BenchmarkAzureHourTimes10(b *testing.B) {
	f, err := os.Open("../../" + scenario.TracePath)
	if err != nil {
		b.Fatal(err)
	}
	reqs, err := workload.ReadTrace(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	reqs, err = workload.Scale(reqs, 10, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := scenario.HeadlineScenario(scenario.Headline{Name: "azure", Requests: func(uint64) ([]workload.Request, error) { return reqs, nil }}, scenario.StartDelays[0], 1)
	if err != nil {
		b.Fatal(err)
	}
	all := append(sim.Builtin(), Factory())
	b.ReportAllocs()
	for b.Loop() {
		res, err := sim.Compare(sc, all)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != 5 {
			b.Fatalf("%d results", len(res))
		}
	}
	b.ReportMetric(float64(len(reqs)), "requests/op")
}
