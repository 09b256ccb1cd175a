package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultNetNSDir is where pod namespaces are pinned; `ip netns` lists them.
const DefaultNetNSDir = "/run/netns"

// CreateNetNS makes a new, empty network namespace and pins it by bind
// mount at path, so it lives without any process in it (no pause
// container). Containers join it through the OCI spec's namespace path.
func CreateNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("podnet: create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("podnet: create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		merr := unix.Mount(src, path, "none", unix.MS_BIND, "")
		// Only a thread back in the original namespace may run other
		// goroutines; otherwise it stays locked and exits with us.
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		if merr != nil {
			merr = fmt.Errorf("bind-mount new netns on %s: %w", path, merr)
		}
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return fmt.Errorf("podnet: %w", err)
	}
	return nil
}

// DeleteNetNS unpins and removes a namespace made by CreateNetNS. The
// kernel frees it, with any veth end inside, once nothing uses it.
// A path that does not exist is not an error.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("podnet: unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("podnet: remove %s: %w", path, err)
	}
	return nil
}

// ListNetNS returns the pinned namespaces in dir whose name starts with
// prefix, for orphan clean-up on agent start.
func ListNetNS(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("podnet: list %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
