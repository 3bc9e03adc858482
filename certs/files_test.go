package certs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAtomicSwapsAllFilesAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	// A plain file left by something else is replaced by the managed link.
	if err := os.WriteFile(filepath.Join(dir, CertKey), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, gen := range []map[string][]byte{
		{CertKey: []byte("cert-1"), KeyKey: []byte("key-1"), CAKey: []byte("ca-1")},
		{CertKey: []byte("cert-2"), KeyKey: []byte("key-2"), CAKey: []byte("ca-1")},
	} {
		if err := writeAtomic(dir, gen); err != nil {
			t.Fatalf("generation %d: %v", i, err)
		}
		for name, want := range gen {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != string(want) {
				t.Errorf("generation %d: %s = %q, %v; want %q", i, name, got, err, want)
			}
		}
	}
	info, err := os.Stat(filepath.Join(dir, KeyKey))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key mode %v, want 0600", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gens []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..gen-") {
			gens = append(gens, e.Name())
		}
		if strings.HasSuffix(e.Name(), ".tmp") || e.Name() == dataLinkTmp {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
	if len(gens) != 1 {
		t.Errorf("generations left: %v, want only the current one", gens)
	}
}
