package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot returns the directory of the root module (the one holding e2e/), found from the
// current directory as the go command finds it.
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find repository root: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", fmt.Errorf("find repository root: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// BuildTools builds the Kubernetes binaries pinned by e2e/tools (all of them, or only the
// commands named) into the per-version cache, skipping those built before, and returns the
// cache directory. Progress goes to log.
func BuildTools(ctx context.Context, log io.Writer, commands ...string) (string, error) {
	root, err := RepoRoot(ctx)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "e2e", "tools", "build.sh")}, commands...)...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("build e2e tools: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("build e2e tools: %w", err)
	}
	// The script prints progress, then the cache directory as its last line.
	var last string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if last != "" {
			fmt.Fprintln(log, last)
		}
		last = sc.Text()
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("build e2e tools (e2e/tools/build.sh): %w", err)
	}
	if !filepath.IsAbs(last) {
		return "", fmt.Errorf("build e2e tools: expected the binaries' directory as last line, got %q", last)
	}
	return last, nil
}
