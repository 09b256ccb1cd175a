package kubelet

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAtomicDirReplacesContents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	if err := writeAtomicDir(dir, map[string]volumeFile{"a": {[]byte("1"), 0o644, nil}, "sub/b": {[]byte("2"), 0o600, nil}}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.Readlink(filepath.Join(dir, dataLink))
	if err := writeAtomicDir(dir, map[string]volumeFile{"a": {[]byte("1"), 0o644, nil}, "sub/b": {[]byte("2"), 0o600, nil}}); err != nil {
		t.Fatal(err)
	}
	if same, _ := os.Readlink(filepath.Join(dir, dataLink)); same != first {
		t.Fatalf("unchanged contents were rewritten: %s -> %s", first, same)
	}
	if err := writeAtomicDir(dir, map[string]volumeFile{"a": {[]byte("3"), 0o644, nil}}); err != nil {
		t.Fatal(err)
	}
	if got := readVol(t, dir, "a"); got != "3" {
		t.Fatalf("a = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Fatal("a removed key is still visible")
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Fatal("the old data directory was not removed")
	}
	if err := writeAtomicDir(dir, map[string]volumeFile{"x": {nil, 0o644, nil}, "x/y": {nil, 0o644, nil}}); err == nil {
		t.Fatal("a path that is both file and directory was accepted")
	}
}
