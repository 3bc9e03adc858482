// Package version holds the version stamped into every inferscale binary at
// build time with -ldflags "-X github.com/inferscale/inferscale/internal/version.Version=...".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release or git description of the build; "dev" when unstamped.
var Version = "dev"

// String describes the build in one line: version, Go version, platform, and
// the VCS revision when the toolchain recorded one.
func String() string {
	s := fmt.Sprintf("%s (%s %s/%s", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range info.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += ", commit " + kv.Value[:12]
			}
		}
	}
	return s + ")"
}
