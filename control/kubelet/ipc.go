package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A pod's containers share one IPC namespace, one /dev/shm and one UTS
// namespace (hostname), as they do around a Kubernetes pause container.
// Without a pause container each namespace is kept alive by a bind mount in
// the pod directory (ns/ipc, ns/uts), and /dev/shm is a tmpfs mounted there
// (shm) and bound into every container.

const shmSize = "67108864" // 64 MiB, Kubernetes' default /dev/shm size

func ipcNSPath(podDir string) string { return filepath.Join(podDir, "ns", "ipc") }
func utsNSPath(podDir string) string { return filepath.Join(podDir, "ns", "uts") }
func shmPath(podDir string) string   { return filepath.Join(podDir, "shm") }

// setupIPC creates the pod's IPC namespace and /dev/shm unless they exist.
func setupIPC(podDir string) error {
	ns := ipcNSPath(podDir)
	if !isNSMount(ns) {
		if err := createPodNS(ns, unix.CLONE_NEWIPC, nil); err != nil {
			return err
		}
	}
	shm := shmPath(podDir)
	var st unix.Statfs_t
	if unix.Statfs(shm, &st) == nil && st.Type == unix.TMPFS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(shm, 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+shmSize); err != nil {
		return fmt.Errorf("mount the pod's /dev/shm at %s: %w", shm, err)
	}
	return nil
}

// setupUTS creates the pod's UTS namespace, with hostname set, unless it
// exists.
func setupUTS(podDir, hostname string) error {
	ns := utsNSPath(podDir)
	if isNSMount(ns) {
		return nil
	}
	return createPodNS(ns, unix.CLONE_NEWUTS, func() error {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("set the pod's hostname %q: %w", hostname, err)
		}
		return nil
	})
}

// createPodNS makes a new namespace of kind flag (CLONE_NEWIPC,
// CLONE_NEWUTS) on a locked thread of its own, runs inside (if any) in it,
// and pins it at path; then it moves the thread back to its old namespace
// before unlocking it, so no goroutine ever runs in the pod's namespace and
// the thread (which may be the main one) stays usable. If the way back
// fails, the thread stays locked and ends with its goroutine.
func createPodNS(path string, flag int, inside func() error) error {
	kind := map[int]string{unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWUTS: "uts"}[flag]
	if kind == "" {
		return fmt.Errorf("createPodNS: unsupported namespace flag %#x", flag)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), kind)
		orig, err := os.Open(self)
		if err != nil {
			errc <- fmt.Errorf("open the current %s namespace: %w", kind, err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(flag); err != nil {
			errc <- fmt.Errorf("unshare %s namespace: %w", kind, err)
			return
		}
		if inside != nil {
			err = inside()
		}
		if err == nil {
			if err = unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
				err = fmt.Errorf("pin %s namespace on %s: %w", kind, path, err)
			}
		}
		if unix.Setns(int(orig.Fd()), flag) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// unmountPodDir releases the pod's IPC and UTS namespaces and /dev/shm so
// that its directory can be removed.
func unmountPodDir(podDir string) {
	for _, p := range []string{ipcNSPath(podDir), utsNSPath(podDir), shmPath(podDir)} {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}
