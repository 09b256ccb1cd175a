package kubelet

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// volumeFile is one file of a volume written by writeAtomicDir.
type volumeFile struct {
	data  []byte
	mode  os.FileMode
	owner *int64 // the file's user; nil: root
}

// dataLink is the symlink in a volume directory that names the directory
// holding the current files; user-visible names are symlinks through it.
const dataLink = "..data"

// validVolumePath checks that an item path stays inside its volume: it is
// relative, has no ".." element and does not start with "..", the names
// the atomic writer keeps for itself.
func validVolumePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid item path %q: it is empty", p)
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid item path %q: it must be relative to the volume", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid item path %q: it must not start with '..'", p)
	case len(p) > 4096:
		return fmt.Errorf("invalid item path %q: longer than 4096 characters", p[:64]+"...")
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Errorf("invalid item path %q: it must not contain '..' (it would leave the volume)", p)
		}
	}
	return nil
}

// checkVolumePaths validates every path and rejects one file's path being
// another's directory.
func checkVolumePaths(files map[string]volumeFile) error {
	for p := range files {
		if err := validVolumePath(p); err != nil {
			return err
		}
		clean := filepath.Clean(p)
		if clean == "." {
			return fmt.Errorf("invalid item path %q: it names the volume itself", p)
		}
		for dir := filepath.Dir(clean); dir != "." && dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := files[dir]; ok {
				return fmt.Errorf("item paths %q and %q conflict: %q is both a file and a directory", dir, p, dir)
			}
		}
	}
	return nil
}

// writeAtomicDir makes dir hold exactly files, switching from the old to the
// new contents in one rename so a reader never sees a mix: the files are
// written into a fresh hidden directory, the "..data" symlink is swapped
// to it, and each top-level name is a symlink through "..data". Nothing is
// written when dir already holds exactly these files.
func writeAtomicDir(dir string, files map[string]volumeFile) error {
	clean := make(map[string]volumeFile, len(files))
	for p, f := range files {
		clean[filepath.Clean(p)] = f
	}
	if len(clean) != len(files) {
		return fmt.Errorf("two item paths of volume %s name the same file", filepath.Base(dir))
	}
	if err := checkVolumePaths(files); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Chmod(dir, 0o755)
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && sameFiles(filepath.Join(dir, old), clean) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		os.RemoveAll(ts)
		return err
	}
	for p, f := range clean {
		if err := writeVolumeFile(filepath.Join(ts, p), f); err != nil {
			os.RemoveAll(ts)
			return err
		}
	}
	tmpLink := filepath.Join(dir, dataLink+"_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		os.RemoveAll(ts)
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		os.RemoveAll(ts)
		return err
	}
	top := map[string]bool{}
	for p := range clean {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	if err := linkTopLevel(dir, top); err != nil {
		return err
	}
	if old != "" && old != filepath.Base(ts) && strings.HasPrefix(old, "..") && !strings.Contains(old, "/") {
		_ = os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

func writeVolumeFile(p string, f volumeFile) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.data, f.mode); err != nil {
		return err
	}
	if f.owner != nil {
		if err := os.Chown(p, int(*f.owner), -1); err != nil {
			return err
		}
	}
	return os.Chmod(p, f.mode) // the umask may have cleared bits
}

// fileOwner is the user owning info's file.
func fileOwner(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Uid)
	}
	return -1
}

// linkTopLevel makes each name in top a symlink through "..data" and
// removes visible entries that are no longer part of the volume.
func linkTopLevel(dir string, top map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			continue
		}
		target, _ := os.Readlink(filepath.Join(dir, name))
		if top[name] && target == filepath.Join(dataLink, name) {
			delete(top, name) // already linked
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	for name := range top {
		if err := os.Symlink(filepath.Join(dataLink, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// sameFiles reports whether dir holds exactly files with the same
// contents and modes.
func sameFiles(dir string, files map[string]volumeFile) bool {
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[rel]
		info, ierr := d.Info()
		if !ok || ierr != nil || !info.Mode().IsRegular() || info.Mode().Perm() != f.mode.Perm() {
			return fs.ErrInvalid
		}
		if f.owner != nil && fileOwner(info) != *f.owner || f.owner == nil && fileOwner(info) != int64(os.Getuid()) {
			return fs.ErrInvalid
		}
		data, rerr := os.ReadFile(p)
		if rerr != nil || !bytes.Equal(data, f.data) {
			return fs.ErrInvalid
		}
		seen++
		return nil
	})
	return err == nil && seen == len(files)
}
