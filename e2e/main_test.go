//go:build e2e

// Package e2e tests inferscale against a real cluster: one brought up on this machine by
// e2e/cluster for the whole package, or the one INFERSCALE_E2E_KUBECONFIG names.
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/inferscale/inferscale/e2e/cluster"
	"github.com/inferscale/inferscale/e2e/images"
)

// EnvLogs names a directory that receives the component logs of the run (a CI artifact).
const envLogs = "INFERSCALE_E2E_LOGS"

var (
	testCluster *cluster.Cluster
	// modelServer is the test model server image, which doubles as an HTTP client (-get).
	modelServer images.Image
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	ctx := context.Background()
	c, err := cluster.Up(ctx, cluster.Options{LogsDir: os.Getenv(envLogs)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: bring up cluster: %v\n", err)
		return 1
	}
	testCluster = c

	code := 1
	built, err := c.BuildImages(ctx, images.Spec{Name: "modelserver", GoPackage: "github.com/inferscale/inferscale/e2e/images/modelserver"})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
	} else {
		modelServer = built[0]
		code = m.Run()
	}
	if code != 0 {
		c.DumpLogs(os.Stderr, 100)
	}
	if err := c.Down(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: teardown: %v\n", err)
		code = 1
	}
	// The machine must be as the run found it, whatever the tests did.
	if left := c.Leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: teardown left on the machine:\n  %s\n", strings.Join(left, "\n  "))
		code = 1
	} else if !c.External() {
		fmt.Fprintln(os.Stderr, "e2e: teardown left no process, mount, netns, link, iptables chain, cgroup, sysctl change or path behind")
	}
	return code
}
