package certs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	// dataLink points at the directory holding the current generation of files;
	// the visible names are symlinks through it. The layout is the kubelet's for
	// Secret volumes, which certwatcher already handles.
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// writeAtomic makes dir hold exactly files' contents under their names, switching
// all of them at once: a reader (certwatcher) never sees a new certificate with an
// old key. Nothing is written when the contents are already there, so a periodic
// sync does not make the watcher reload.
func writeAtomic(dir string, files map[string][]byte) error {
	if current(dir, files) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gen, err := os.MkdirTemp(dir, "..gen-")
	if err != nil {
		return err
	}
	for name, content := range files {
		// The key is private to the serving process; certificates are public.
		mode := os.FileMode(0o644)
		if name == KeyKey {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(gen, name), content, mode); err != nil {
			_ = os.RemoveAll(gen)
			return err
		}
	}
	// rename(2) over the old link swaps every file in one step.
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	for name := range files {
		if err := ensureLink(dir, name); err != nil {
			return err
		}
	}
	// Old generations go last: a reader that resolved a link just before the swap
	// still finds its files, and deleting them makes inotify tell certwatcher.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..gen-") && e.Name() != filepath.Base(gen) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("removing old generation %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// ensureLink makes dir/name a symlink to ..data/name, replacing a plain file left
// by something else.
func ensureLink(dir, name string) error {
	path := filepath.Join(dir, name)
	target := filepath.Join(dataLink, name)
	if got, err := os.Readlink(path); err == nil && got == target {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func current(dir string, files map[string][]byte) bool {
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}
