package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Host paths the kubelet, containerd and the CNI plugins create outside the work directory
// whatever they are told. Each is removed on teardown unless it existed before the run.
var hostPaths = []string{
	"/var/lib/kubelet",
	"/var/lib/cni",
	"/var/log/containers",
	"/var/log/pods",
	"/run/containerd",
	"/run/netns",
	"/var/run/netns",
	// The default flex-volume directory. The kubelet and the controller manager are given
	// their own; this catches any component that creates it anyway.
	"/usr/libexec/kubernetes",
}

// Kernel settings the components change (the kubelet its "protect kernel defaults" set,
// kube-proxy and the bridge plugin forwarding and netfilter ones). Each is restored on teardown.
var hostSysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv6.conf.all.forwarding",
	"net.ipv4.conf.all.route_localnet",
	"net.bridge.bridge-nf-call-iptables",
	"net.bridge.bridge-nf-call-ip6tables",
	"vm.overcommit_memory",
	"vm.panic_on_oom",
	"kernel.panic",
	"kernel.panic_on_oops",
	"kernel.keys.root_maxkeys",
	"kernel.keys.root_maxbytes",
	"net.netfilter.nf_conntrack_max",
	"net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
}

// bridgeName is the pods' bridge, which the CNI bridge plugin creates.
const bridgeName = "cni0"

// iptables chains whose name starts with one of these belong to the run (kubelet, kube-proxy,
// CNI bridge masquerading and portmap).
var chainPrefixes = []string{"KUBE-", "CNI-"}

var iptablesTables = []string{"filter", "nat", "mangle", "raw"}

// hostState records what the machine looked like before a run, so that teardown removes what
// the run added and nothing else, also after a crash (it is saved in the work directory).
type hostState struct {
	WorkDir       string            `json:"workDir"`
	BinDir        string            `json:"binDir"`
	ExistingPaths map[string]bool   `json:"existingPaths"`
	Netns         []string          `json:"netns"`
	Sysctls       map[string]string `json:"sysctls"`
}

const stateFile = "host-state.json"

func snapshotHost(workDir, binDir string) *hostState {
	s := &hostState{WorkDir: workDir, BinDir: binDir, ExistingPaths: map[string]bool{}, Sysctls: map[string]string{}}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.ExistingPaths[p] = true
		}
	}
	s.Netns = listNetns()
	for _, key := range hostSysctls {
		if v, err := readSysctl(key); err == nil {
			s.Sysctls[key] = v
		}
	}
	return s
}

func (s *hostState) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, stateFile), data, 0o600); err != nil {
		return fmt.Errorf("save host state: %w", err)
	}
	return nil
}

func loadHostState(workDir string) (*hostState, error) {
	data, err := os.ReadFile(filepath.Join(workDir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("load host state: %w", err)
	}
	var s hostState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode host state: %w", err)
	}
	return &s, nil
}

// cleanHost removes every trace of a run from the machine. It does not need the run's
// processes to cooperate, so it also cleans up after a crashed or killed run. It goes on
// past errors and returns them all.
func (s *hostState) cleanHost(binDir string) error {
	var errs []error
	errs = append(errs, s.killProcesses()...)
	if binDir != "" {
		// kube-proxy knows its own iptables, ipvs and nftables state best.
		if out, err := exec.Command(filepath.Join(binDir, "kube-proxy"), "--cleanup").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("kube-proxy --cleanup: %w\n%s", err, out))
		}
	}
	errs = append(errs, s.unmountAll()...)
	for _, ns := range s.newNetns() {
		if err := os.Remove(ns); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove netns %s: %w", ns, err))
		}
	}
	if linkExists(bridgeName) {
		if out, err := exec.Command("ip", "link", "delete", bridgeName).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete link %s: %w: %s", bridgeName, err, out))
		}
	}
	if hasNodeAddress() {
		if out, err := exec.Command("ip", "addr", "del", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("remove node address: %w: %s", err, out))
		}
	}
	errs = append(errs, removeChains()...)
	errs = append(errs, removeKubepodsCgroups()...)
	for key, value := range s.Sysctls {
		if current, err := readSysctl(key); err == nil && current != value {
			if err := writeSysctl(key, value); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range hostPaths {
		if !s.ExistingPaths[p] {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			}
		}
	}
	if err := os.RemoveAll(s.WorkDir); err != nil {
		errs = append(errs, fmt.Errorf("remove work dir: %w", err))
	}
	return errors.Join(errs...)
}

// leftovers lists what of a run is still on the machine; empty means clean.
func (s *hostState) leftovers() []string {
	var found []string
	for _, p := range s.ownProcesses() {
		found = append(found, fmt.Sprintf("process %d: %s", p.pid, p.cmdline))
	}
	for _, m := range s.ownMounts() {
		found = append(found, "mount "+m)
	}
	for _, ns := range s.newNetns() {
		found = append(found, "netns "+ns)
	}
	if linkExists(bridgeName) {
		found = append(found, "network link "+bridgeName)
	}
	if hasNodeAddress() {
		found = append(found, "address "+nodeIP+" on lo")
	}
	for _, c := range ownChains() {
		found = append(found, "iptables chain "+c.String())
	}
	for _, cg := range kubepodsCgroups() {
		found = append(found, "cgroup "+cg)
	}
	for key, value := range s.Sysctls {
		if current, err := readSysctl(key); err == nil && current != value {
			found = append(found, fmt.Sprintf("sysctl %s = %s, was %s", key, current, value))
		}
	}
	for _, p := range append(hostPaths, s.WorkDir) {
		if s.ExistingPaths[p] {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			found = append(found, "path "+p)
		}
	}
	sort.Strings(found)
	return found
}

type hostProcess struct {
	pid     int
	cmdline string
}

// ownProcesses finds the run's processes by what they run and where: a component binary from
// the run's bin directory, anything whose command line names the work directory (etcd,
// containerd, the shims, which carry containerd's socket path), and whatever is left in the
// kubepods cgroups (the containers).
func (s *hostState) ownProcesses() []hostProcess {
	inCgroups := map[int]bool{}
	for _, pid := range kubepodsPids() {
		inCgroups[pid] = true
	}
	self := os.Getpid()
	var found []hostProcess
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue // exited, or a kernel thread
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
		own := inCgroups[pid] || strings.Contains(cmdline, s.WorkDir)
		if s.BinDir != "" {
			exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
			own = own || strings.HasPrefix(exe, s.BinDir+"/")
		}
		if own {
			found = append(found, hostProcess{pid: pid, cmdline: cmdline})
		}
	}
	return found
}

// killProcesses kills what is left of the run, repeatedly, because a shim may start a
// container process while the previous pass runs.
func (s *hostState) killProcesses() []error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		procs := s.ownProcesses()
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var errs []error
			for _, p := range procs {
				errs = append(errs, fmt.Errorf("process %d (%s) survives SIGKILL", p.pid, p.cmdline))
			}
			return errs
		}
		for _, p := range procs {
			_ = syscall.Kill(p.pid, syscall.SIGKILL) // it may have exited meanwhile
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ownMounts lists the mount points of the run, deepest first.
func (s *hostState) ownMounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	prefixes := []string{s.WorkDir + "/"}
	for _, p := range hostPaths {
		if !s.ExistingPaths[p] {
			prefixes = append(prefixes, p+"/")
		}
	}
	newNetns := map[string]bool{}
	for _, ns := range s.newNetns() {
		newNetns[ns] = true
	}
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mountPoint := unescapeMountPath(fields[4])
		own := newNetns[mountPoint]
		for _, prefix := range prefixes {
			own = own || strings.HasPrefix(mountPoint+"/", prefix)
		}
		if own {
			found = append(found, mountPoint)
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	return found
}

// unescapeMountPath undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMountPath(p string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(p)
}

func (s *hostState) unmountAll() []error {
	// A mount may hide another at the same point, so unmount until none is left.
	for range 10 {
		mounts := s.ownMounts()
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			_ = unix.Unmount(m, unix.MNT_DETACH) // a parent's detach may have taken it already
		}
	}
	var errs []error
	for _, m := range s.ownMounts() {
		errs = append(errs, fmt.Errorf("mount %s survives unmount", m))
	}
	return errs
}

// netnsDirs are where containerd and `ip netns` keep named network namespaces.
var netnsDirs = []string{"/run/netns", "/var/run/netns"}

func listNetns() []string {
	seen := map[string]bool{}
	var found []string
	for _, dir := range netnsDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if real, err := filepath.EvalSymlinks(p); err == nil && !seen[real] {
				seen[real] = true
				found = append(found, real)
			}
		}
	}
	sort.Strings(found)
	return found
}

func (s *hostState) newNetns() []string {
	before := map[string]bool{}
	for _, ns := range s.Netns {
		before[ns] = true
	}
	var found []string
	for _, ns := range listNetns() {
		if !before[ns] {
			found = append(found, ns)
		}
	}
	return found
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// hasNodeAddress reports whether the node's address is on the loopback link.
func hasNodeAddress() bool {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", "lo").Output()
	return err == nil && strings.Contains(string(out), " "+nodeIP+"/")
}

type chain struct {
	tool, table, name string
}

func (c chain) String() string { return fmt.Sprintf("%s -t %s %s", c.tool, c.table, c.name) }

// iptablesTools are the front ends that may hold the run's rules: kube-proxy and the kubelet
// pick nft or legacy by what the host already uses.
func iptablesTools() []string {
	var tools []string
	for _, t := range []string{"iptables-nft", "ip6tables-nft", "iptables-legacy", "ip6tables-legacy"} {
		if _, err := exec.LookPath(t); err == nil {
			tools = append(tools, t)
		}
	}
	return tools
}

func ownChain(name string) bool {
	for _, prefix := range chainPrefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// legacyTableNames are where the kernel lists the legacy (x_tables) tables in use.
var legacyTableNames = map[string]string{
	"iptables-legacy":  "/proc/net/ip_tables_names",
	"ip6tables-legacy": "/proc/net/ip6_tables_names",
}

// listRules returns the `-S` output of one table: "-N chain" and "-A chain rule..." lines. A
// table the kernel lacks gives no lines.
func listRules(tool, table string) []string {
	// Merely listing a legacy table creates it, which would leave the host with legacy tables
	// (and iptables warning about them ever after); a table not in use holds no rules anyway.
	if names, ok := legacyTableNames[tool]; ok {
		inUse, err := os.ReadFile(names)
		if err != nil || !slices.Contains(strings.Fields(string(inUse)), table) {
			return nil
		}
	}
	out, err := exec.Command(tool, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func ownChains() []chain {
	var found []chain
	for _, tool := range iptablesTools() {
		for _, table := range iptablesTables {
			for _, line := range listRules(tool, table) {
				if name, ok := strings.CutPrefix(line, "-N "); ok && ownChain(name) {
					found = append(found, chain{tool: tool, table: table, name: name})
				}
			}
		}
	}
	return found
}

// removeChains deletes the rules that jump to the run's chains, then the chains.
func removeChains() []error {
	var errs []error
	for _, tool := range iptablesTools() {
		for _, table := range iptablesTables {
			var chains []string
			for _, line := range listRules(tool, table) {
				fields := strings.Fields(line)
				if len(fields) >= 2 && fields[0] == "-N" && ownChain(fields[1]) {
					chains = append(chains, fields[1])
				}
				if len(fields) < 2 || fields[0] != "-A" || ownChain(fields[1]) || !jumpsToOwnChain(fields) {
					continue
				}
				// -S prints each rule in a form iptables parses back; -D with it deletes the rule.
				args := append([]string{"-w", "-t", table, "-D"}, splitRule(strings.TrimPrefix(line, "-A "))...)
				if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s: delete %q: %w: %s", tool, table, line, err, out))
				}
			}
			for _, op := range []string{"-F", "-X"} {
				for _, c := range chains {
					if out, err := exec.Command(tool, "-w", "-t", table, op, c).CombinedOutput(); err != nil {
						errs = append(errs, fmt.Errorf("%s -t %s %s %s: %w: %s", tool, table, op, c, err, out))
					}
				}
			}
		}
	}
	return errs
}

func jumpsToOwnChain(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && ownChain(fields[i+1]) {
			return true
		}
	}
	return false
}

// splitRule splits an `iptables -S` rule into arguments, honouring the double quotes it puts
// around comments with spaces.
func splitRule(rule string) []string {
	var args []string
	var cur strings.Builder
	inQuote, inArg := false, false
	for i := 0; i < len(rule); i++ {
		ch := rule[i]
		switch {
		case ch == '\\' && inQuote && i+1 < len(rule):
			i++
			cur.WriteByte(rule[i])
		case ch == '"':
			inQuote = !inQuote
			inArg = true
		case ch == ' ' && !inQuote:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(ch)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

const cgroupRoot = "/sys/fs/cgroup"

// kubepodsCgroups lists the kubelet's pod cgroups in every hierarchy, deepest first.
func kubepodsCgroups() []string {
	var found []string
	var roots []string
	if entries, err := os.ReadDir(cgroupRoot); err == nil {
		for _, e := range entries {
			roots = append(roots, filepath.Join(cgroupRoot, e.Name()))
		}
	}
	// On a pure cgroup v2 host the hierarchy is /sys/fs/cgroup itself.
	roots = append(roots, cgroupRoot)
	for _, root := range roots {
		for _, name := range []string{"kubepods", "kubepods.slice"} {
			top := filepath.Join(root, name)
			if _, err := os.Stat(top); err != nil {
				continue
			}
			_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					found = append(found, p)
				}
				return nil
			})
		}
	}
	sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	return found
}

func kubepodsPids() []int {
	var pids []int
	for _, cg := range kubepodsCgroups() {
		data, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func removeKubepodsCgroups() []error {
	var errs []error
	for _, cg := range kubepodsCgroups() {
		if err := unix.Rmdir(cg); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", cg, err))
		}
	}
	return errs
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	data, err := os.ReadFile(sysctlPath(key))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("restore sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
