// Package deptest checks in a test that packages do not depend on what they must not.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Forbid fails t for every dependency of pkgs (as `go list -deps` sees them) that forbidden
// reports.
func Forbid(t *testing.T, pkgs []string, forbidden func(dep string) bool) {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", pkgs, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if forbidden(dep) {
			t.Errorf("%v depend on %s", pkgs, dep)
		}
	}
}
