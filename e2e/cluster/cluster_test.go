package cluster

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestInstallScriptHasEveryHostToolsPackage: what the harness needs is what `make demo`,
// `make test` and .ci/run install, from the one list in hack/install-deps.sh.
func TestInstallScriptHasEveryHostToolsPackage(t *testing.T) {
	raw, err := os.ReadFile("../../hack/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^packages=\(([^)]*)\)$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("hack/install-deps.sh has no packages=(...) line")
	}
	listed := strings.Fields(string(m[1]))
	for tool, pkg := range requiredHostTools {
		if !slices.Contains(listed, pkg) {
			t.Errorf("the harness needs %s from Debian package %s, which hack/install-deps.sh does not install", tool, pkg)
		}
	}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "hack/install-deps.sh") || strings.Contains(string(ci), "apt-get install") {
		t.Error(".ci/run does not install through hack/install-deps.sh alone")
	}
}
