package containerd

import (
	"os/exec"
	"path/filepath"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/plugin"
)

// RuntimeOpts is the container option every Skiff container is created
// with: the runc v2 shim, cgroupfs (SystemdCgroup=false), and runc's state
// kept under DATA/containerd/runc rather than the system-wide
// /run/containerd/runc, so two containerd instances never share it.
func (d *Daemon) RuntimeOpts() ctrd.NewContainerOpts {
	return RuntimeOpts(d.opts.DataDir)
}

// RuntimeOpts is Daemon.RuntimeOpts for callers that only know the data dir.
func RuntimeOpts(dataDir string) ctrd.NewContainerOpts {
	runc := "runc"
	if p, err := exec.LookPath("runc"); err == nil {
		runc = p
	} else if p, err := exec.LookPath("/usr/sbin/runc"); err == nil {
		runc = p
	}
	return ctrd.WithRuntime(plugin.RuntimeRuncV2, &options.Options{
		BinaryName:    runc,
		Root:          filepath.Join(dataDir, "containerd", "runc"),
		SystemdCgroup: false,
	})
}
