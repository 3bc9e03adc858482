package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestBuildStaticImageIsReproducible(t *testing.T) {
	ctx := context.Background()
	spec := Spec{Name: "pause", GoPackage: "./pause", Args: []string{"-x"}, User: "65532", OutDir: t.TempDir()}
	first, err := Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if first.Ref != "inferscale.local/pause:dev" {
		t.Errorf("Ref = %q", first.Ref)
	}
	files, cfgEntrypoint, digest := inspect(t, first.Tarball)
	if !slices.Contains(files, "usr/local/bin/pause") || !slices.Contains(files, "tmp/") {
		t.Errorf("layer files = %v, want usr/local/bin/pause and tmp/", files)
	}
	if strings.Join(cfgEntrypoint, " ") != "/usr/local/bin/pause -x" {
		t.Errorf("entrypoint and command = %v", cfgEntrypoint)
	}

	spec.OutDir = t.TempDir()
	second, err := Build(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, again := inspect(t, second.Tarball); again != digest {
		t.Errorf("rebuilding the same program gave image %s, then %s", digest, again)
	}
}

func TestBuildCGOImageCarriesSharedLibraries(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler on this machine (apt-get install gcc libc6-dev): cgo cannot build")
	}
	img, err := Build(context.Background(), Spec{Name: "cgohello", GoPackage: "./testdata/cgohello", CGO: true, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	files, _, _ := inspect(t, img.Tarball)
	var loader, libc bool
	for _, f := range files {
		loader = loader || strings.HasPrefix(filepath.Base(f), "ld-linux")
		libc = libc || filepath.Base(f) == "libc.so.6"
	}
	if !loader || !libc {
		t.Errorf("layer files = %v, want the dynamic loader and libc.so.6", files)
	}
}

func TestBuildRefusesIncompleteSpec(t *testing.T) {
	if _, err := Build(context.Background(), Spec{Name: "x"}); err == nil {
		t.Error("Build accepted a spec without GoPackage")
	}
}

// inspect returns the files of the image's only layer, its entrypoint followed by its command,
// and its digest.
func inspect(t *testing.T, path string) (files, command []string, digest string) {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, hdr.Name)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform = %s/%s", cfg.OS, cfg.Architecture)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return files, append(cfg.Config.Entrypoint, cfg.Config.Cmd...), d.String()
}
