package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSplitRuleHonoursQuotes(t *testing.T) {
	rule := `POSTROUTING -s 10.88.0.5/32 -m comment --comment "name: \"inferscale-e2e\" id: \"abc\"" -j CNI-1234`
	got := splitRule(rule)
	want := []string{"POSTROUTING", "-s", "10.88.0.5/32", "-m", "comment", "--comment", `name: "inferscale-e2e" id: "abc"`, "-j", "CNI-1234"}
	if !slices.Equal(got, want) {
		t.Errorf("splitRule = %q, want %q", got, want)
	}
	if !jumpsToOwnChain(strings.Fields("-A POSTROUTING -s 10.88.0.5/32 -j CNI-1234")) {
		t.Error("a jump to a CNI- chain is not recognised as the run's")
	}
	if jumpsToOwnChain(strings.Fields("-A FORWARD -j DOCKER-USER")) {
		t.Error("a jump to another tool's chain is taken for the run's")
	}
}

// leftovers must see what a run leaves: otherwise the e2e teardown check could never fail.
// The test adds a process, a mount and an iptables chain of a pretend run, and removes them.
// It looks only for those: a cluster another run keeps up on this machine may add others.
func TestLeftoversSeesProcessMountAndChain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount and change iptables; run as root (CI does)")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables on this machine (apt-get install iptables)")
	}
	workDir := t.TempDir()
	state := snapshotHost(workDir, "")

	mountPoint := filepath.Join(workDir, "mnt")
	if err := os.Mkdir(mountPoint, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mountPoint, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mountPoint, unix.MNT_DETACH) })

	chainName := "KUBE-INFERSCALE-TEST"
	if out, err := exec.Command("iptables", "-w", "-t", "filter", "-N", chainName).CombinedOutput(); err != nil {
		t.Fatalf("create chain: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("iptables", "-w", "-t", "filter", "-X", chainName).Run() })

	// The work directory in its command line marks the process as the run's, as for etcd.
	proc := exec.Command("sh", "-c", "sleep 60", workDir)
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })

	left := strings.Join(state.leftovers(), "\n")
	for _, want := range []string{"mount " + mountPoint, " -t filter " + chainName, "process "} {
		if !strings.Contains(left, want) {
			t.Errorf("leftovers lack %q:\n%s", want, left)
		}
	}
}
