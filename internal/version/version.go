// Package version holds the version stamped into every inferscale binary at
// build time with -ldflags "-X github.com/inferscale/inferscale/internal/version.Version=...",
// and the inferscale_build_info metric that exports it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the release or git description of the build; "dev" when unstamped.
var Version = "dev"

// Revision is the VCS commit the toolchain recorded (12 hex digits), or "unknown".
func Revision() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range info.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				return kv.Value[:12]
			}
		}
	}
	return "unknown"
}

// String describes the build in one line: version, Go version, platform, and
// the VCS revision when the toolchain recorded one.
func String() string {
	s := fmt.Sprintf("%s (%s %s/%s", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if r := Revision(); r != "unknown" {
		s += ", commit " + r
	}
	return s + ")"
}

// BuildInfoName is the name of the metric NewCollector exports.
const BuildInfoName = "inferscale_build_info"

// NewCollector returns the gauge inferscale_build_info, always 1, whose labels
// describe the build of binary: version, revision, goversion, goos, goarch.
// Joined on it (group_left), a query can tell which version produced a series.
func NewCollector(binary string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: BuildInfoName,
		Help: "Always 1; the labels describe the build of the binary.",
		ConstLabels: prometheus.Labels{
			"binary":    binary,
			"version":   Version,
			"revision":  Revision(),
			"goversion": runtime.Version(),
			"goos":      runtime.GOOS,
			"goarch":    runtime.GOARCH,
		},
	}, func() float64 { return 1 })
}
