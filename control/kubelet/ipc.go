package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// A pod's containers share one IPC namespace and one /dev/shm, as they do
// around a Kubernetes pause container. Without a pause container the
// namespace is kept alive by a bind mount in the pod directory (ns/ipc), and
// /dev/shm is a tmpfs mounted there (shm) and bound into every container.

const shmSize = "67108864" // 64 MiB, Kubernetes' default /dev/shm size

func ipcNSPath(podDir string) string { return filepath.Join(podDir, "ns", "ipc") }
func shmPath(podDir string) string   { return filepath.Join(podDir, "shm") }

// setupIPC creates the pod's IPC namespace and /dev/shm unless they exist.
func setupIPC(podDir string) error {
	ns := ipcNSPath(podDir)
	if !isNSMount(ns) {
		if err := createIPCNS(ns); err != nil {
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

// createIPCNS makes a new IPC namespace on a locked thread of its own and
// pins it at path, then moves the thread back to its old IPC namespace
// before unlocking it, so no goroutine ever runs in the pod's namespace
// and the thread (which may be the main one) stays usable. If the way
// back fails, the thread stays locked and ends with its goroutine.
func createIPCNS(path string) error {
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
		self := fmt.Sprintf("/proc/%d/task/%d/ns/ipc", os.Getpid(), unix.Gettid())
		orig, err := os.Open(self)
		if err != nil {
			errc <- fmt.Errorf("open the current IPC namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			errc <- fmt.Errorf("unshare IPC namespace: %w", err)
			return
		}
		err = unix.Mount(self, path, "none", unix.MS_BIND, "")
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWIPC) == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			err = fmt.Errorf("pin IPC namespace on %s: %w", path, err)
		}
		errc <- err
	}()
	return <-errc
}

// unmountPodDir releases the pod's IPC namespace and /dev/shm so that its
// directory can be removed.
func unmountPodDir(podDir string) {
	for _, p := range []string{ipcNSPath(podDir), shmPath(podDir)} {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}
