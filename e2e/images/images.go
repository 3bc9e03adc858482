// Package images builds OCI images of Go programs without a Docker engine: the binary (plus, for
// a cgo binary, the shared libraries it links and the dynamic loader) in one layer on an empty
// base, written as a tarball that `ctr images import` or `kind load image-archive` accepts.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is the registry part of every image reference built here. It resolves nowhere, so a
// pod that names one of these images with a pull policy other than Never fails loudly.
const Registry = "inferscale.local"

// Tag is the tag of every image built here.
const Tag = "dev"

// Spec describes one image.
type Spec struct {
	// Name is the image's short name: the reference becomes inferscale.local/<Name>:dev
	// unless Ref says otherwise.
	Name string
	// Ref, if set, is the whole reference instead: inferscale's own images take the names
	// the manifests use, so the e2e installs the manifests exactly as users do.
	Ref string
	// GoPackage is the main package to build, as `go build` takes it (an import path, or a
	// ./relative path resolved against Dir).
	GoPackage string
	// Dir is where `go build` runs; empty means the current directory. It must lie inside the
	// module that holds GoPackage.
	Dir string
	// CGO builds with CGO_ENABLED=1 and puts the shared libraries `ldd` lists, and the dynamic
	// loader, into the image next to the binary.
	CGO bool
	// LDFlags are passed to `go build -ldflags` in addition to "-s -w".
	LDFlags string
	// Args are appended to the entrypoint as the image's default command.
	Args []string
	// Env entries, KEY=value.
	Env []string
	// User the image runs as by default, e.g. "65532:65532"; empty means root.
	User string
	// OutDir receives the tarball; empty means os.TempDir().
	OutDir string
}

// Image is a built image tarball.
type Image struct {
	// Ref is the image reference pods use, with imagePullPolicy: Never.
	Ref string
	// Tarball is the path of the docker-save-style tarball holding the image.
	Tarball string
}

// Ref returns the reference of the image named name.
func Ref(name string) string { return Registry + "/" + name + ":" + Tag }

// binaryPath is where the program lives inside every image.
const binaryPath = "/usr/local/bin/"

// fixedTime stamps every file in a layer so that a rebuild of the same binary is the same image.
var fixedTime = time.Unix(0, 0).UTC()

// Build compiles spec's program and writes its image as a tarball.
func Build(ctx context.Context, spec Spec) (Image, error) {
	if spec.Name == "" || spec.GoPackage == "" {
		return Image{}, fmt.Errorf("build image: Name and GoPackage are required, got %+v", spec)
	}
	tmp, err := os.MkdirTemp("", "inferscale-image-"+spec.Name+"-")
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	defer os.RemoveAll(tmp)

	bin := filepath.Join(tmp, spec.Name)
	if err := goBuild(ctx, spec, bin); err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	files := map[string]string{binaryPath + spec.Name: bin}
	if spec.CGO {
		libs, err := sharedLibraries(ctx, bin)
		if err != nil {
			return Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
		}
		for _, lib := range libs {
			files[lib] = lib
		}
	}
	layer, err := layerOf(files)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: append layer: %w", spec.Name, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: read config: %w", spec.Name, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Created = v1.Time{Time: fixedTime}
	cfg.Config.Entrypoint = []string{binaryPath + spec.Name}
	cfg.Config.Cmd = spec.Args
	cfg.Config.Env = append([]string{"PATH=/usr/local/bin"}, spec.Env...)
	cfg.Config.User = spec.User
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: set config: %w", spec.Name, err)
	}

	ref := spec.Ref
	if ref == "" {
		ref = Ref(spec.Name)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", spec.Name, err)
	}
	outDir := spec.OutDir
	if outDir == "" {
		outDir = os.TempDir()
	}
	out := filepath.Join(outDir, "inferscale-"+spec.Name+".tar")
	if err := tarball.WriteToFile(out, tag, img); err != nil {
		return Image{}, fmt.Errorf("build image %s: write %s: %w", spec.Name, out, err)
	}
	return Image{Ref: ref, Tarball: out}, nil
}

func goBuild(ctx context.Context, spec Spec, out string) error {
	ldflags := strings.TrimSpace("-s -w " + spec.LDFlags)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, spec.GoPackage)
	cmd.Dir = spec.Dir
	cgo := "CGO_ENABLED=0"
	if spec.CGO {
		cgo = "CGO_ENABLED=1"
	}
	cmd.Env = append(os.Environ(), cgo, "GOOS=linux")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", spec.GoPackage, err, output)
	}
	return nil
}

// lddPath matches the absolute paths in `ldd` output: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6
// (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)". linux-vdso has no path and is skipped.
var lddPath = regexp.MustCompile(`(?m)(?:=>\s+|^\s*)(/\S+)\s+\(0x`)

// sharedLibraries lists the absolute paths of the shared objects bin loads at start, the dynamic
// loader included.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w\n%s", bin, err, out)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s lists no shared library; is it a cgo binary?\n%s", bin, out)
	}
	return libs, nil
}

// layerOf builds one uncompressed layer holding each source file (symlinks followed) at its
// destination path, with the parent directories.
func layerOf(files map[string]string) (v1.Layer, error) {
	dests := make([]string, 0, len(files))
	for dest := range files {
		dests = append(dests, dest)
	}
	sort.Strings(dests)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	// /tmp exists so that programs that need a scratch directory work with a writable rootfs.
	for _, dest := range append([]string{"/tmp/"}, dests...) {
		if err := writeParents(tw, dirs, dest); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: fixedTime}); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	for _, dest := range dests {
		data, err := os.ReadFile(files[dest])
		if err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dest, "/"), Mode: 0o755, Size: int64(len(data)), ModTime: fixedTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return layer, nil
}

// writeParents writes a directory entry for each parent of p not written yet.
func writeParents(tw *tar.Writer, written map[string]bool, p string) error {
	var parents []string
	for dir := path.Dir(strings.TrimSuffix(p, "/")); dir != "/" && dir != "."; dir = path.Dir(dir) {
		parents = append([]string{dir}, parents...)
	}
	for _, dir := range parents {
		if written[dir] {
			continue
		}
		written[dir] = true
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755, ModTime: fixedTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write layer: %w", err)
		}
	}
	return nil
}
