package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestBuildInfo(t *testing.T) {
	old := Version
	Version = "v1.2.3-test"
	defer func() { Version = old }()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector("inferscale-test"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != BuildInfoName || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one series of %s", mfs, BuildInfoName)
	}
	m := mfs[0].GetMetric()[0]
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"binary": "inferscale-test", "version": "v1.2.3-test", "revision": Revision(),
		"goversion": runtime.Version(), "goos": runtime.GOOS, "goarch": runtime.GOARCH}
	if len(got) != len(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if v := m.GetGauge().GetValue(); v != 1 {
		t.Errorf("value %v, want 1", v)
	}
}

func TestString(t *testing.T) {
	old := Version
	Version = "v1.2.3-test"
	defer func() { Version = old }()
	if s := String(); !strings.HasPrefix(s, "v1.2.3-test ("+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("String() = %q", s)
	}
}
