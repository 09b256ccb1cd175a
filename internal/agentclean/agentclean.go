// Package agentclean removes everything one `skiff agent` made on this
// machine, for tests and benchmarks that run an agent in a temporary data
// directory: its containers (through its runc root, even when shims are
// gone), its containerd and the sockets of its shims, mounts under the data
// directory, its pods' network namespaces (and with them their veths), its
// BPF pins (which detaches its TCX links and the socket-level balancer's
// cgroup links), the node-local DNS interface and the "skiff" cgroups once
// empty.
//
// It takes the agent's data directory and node name; it puts out nothing
// but a clean machine, and never touches another agent's state.
package agentclean

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dns/nodelocal"
)

// NetnsPrefix is the prefix of the pod network namespaces of the agent
// named node (the kubelet's default: "skiff-" + 8 hex digits + "-").
func NetnsPrefix(node string) string {
	sum := sha256.Sum256([]byte(node))
	return "skiff-" + hex.EncodeToString(sum[:4]) + "-"
}

// Cleanup removes what the agent with data directory dir and node name node
// left behind. The agent process itself must already be stopped.
func Cleanup(dir, node string) {
	runcRoots, _ := filepath.Glob(filepath.Join(dir, "containerd", "runc", "*"))
	for _, r := range runcRoots {
		ids, _ := exec.Command("runc", "--root", r, "list", "-q").Output()
		for _, id := range strings.Fields(string(ids)) {
			_ = exec.Command("runc", "--root", r, "delete", "--force", id).Run()
		}
	}
	sockets := shimSockets(dir, shimSocketDir)
	_ = exec.Command("pkill", "-KILL", "-f", filepath.Join(dir, "containerd")).Run()
	time.Sleep(300 * time.Millisecond)
	for _, s := range sockets { // a killed shim leaves its socket behind
		_ = os.Remove(s)
	}
	UnmountUnder(dir)
	_ = loader.RemovePins(loader.DefaultPinRoot, node)
	// The node-local DNS interface (one per machine, recreated by the
	// next agent).
	_ = exec.Command("ip", "link", "del", nodelocal.DefaultInterface).Run()
	prefix := NetnsPrefix(node)
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
				_ = exec.Command("ip", "netns", "del", f[0]).Run()
			}
		}
	}
	removeEmptyCgroups(cgroupRoot)
}

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// removeEmptyCgroups removes the "skiff" cgroup - the parent containerd
// gives the containers of its "skiff" namespace - from every hierarchy
// under root, with any containers' cgroups left empty below it. A cgroup
// that still holds a process (another agent's container) refuses rmdir and
// stays, and so do its parents.
func removeEmptyCgroups(root string) {
	parents, _ := filepath.Glob(filepath.Join(root, "*", "skiff"))
	for _, p := range parents {
		var dirs []string
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- { // children before parents
			_ = os.Remove(dirs[i])
		}
	}
}

// shimSocketDir is where containerd's shims put their sockets.
const shimSocketDir = "/run/containerd/s"

// shimSockets lists the shim sockets in sockDir that the tasks of the
// containerd under dir point at (each task bundle's "address" file).
func shimSockets(dir, sockDir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "containerd", "state", "io.containerd.runtime.v2.task", "*", "*", "address"))
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		p := filepath.Clean(strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"))
		if filepath.Dir(p) == filepath.Clean(sockDir) && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ContainerdPID is the process ID of the containerd the agent with data
// directory dir supervises, or 0 when none runs.
func ContainerdPID(dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == "containerd" && strings.Contains(string(b), dir) {
			return pid
		}
	}
	return 0
}

// UnmountUnder lazily unmounts every mount point at or below dir, deepest
// (last mounted) first: containerd's rootfs mounts and the pods' pinned IPC
// and UTS namespaces and /dev/shm that a kubelet leaves for adoption.
func UnmountUnder(dir string) {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return
	}
	dir = filepath.Clean(dir)
	var mounts []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			mounts = append(mounts, f[1])
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
	}
}
