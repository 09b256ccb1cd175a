package loader

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/skiffnet/skiff/bpf/lb"
	"golang.org/x/sys/unix"
)

// cgroupLinkPrefix names the pinned cgroup links in <PinRoot>/<Node>/links.
const cgroupLinkPrefix = "cgroup-"

// DefaultCgroupPath is the cgroup v2 root the socket-level balancer is
// attached to: /sys/fs/cgroup on a unified hierarchy, /sys/fs/cgroup/unified
// on a hybrid (v1 + v2) one.
func DefaultCgroupPath() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if isCgroup2(p) {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) or disable socket-level balancing")
}

func isCgroup2(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroupID is the kernel's id of the cgroup v2 directory p (its inode).
func cgroupID(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// AttachCgroup attaches the socket-level balancer (connect4, sendmsg4,
// recvmsg4, getpeername4; see bpf/lb/sock.h) to the cgroup v2 directory
// path, "" meaning DefaultCgroupPath. Every process in that cgroup and its
// descendants, in the network namespace Open ran in, then reaches services
// through their backends directly. The links are pinned: an earlier run's
// links on the same cgroup are updated in place, links on another cgroup
// are replaced.
func (d *Dataplane) AttachCgroup(path string) error {
	if path == "" {
		p, err := DefaultCgroupPath()
		if err != nil {
			return err
		}
		path = p
	}
	if !isCgroup2(path) {
		return fmt.Errorf("%s is not a cgroup v2 directory: give one under the cgroup2 mount (see DefaultCgroupPath)", path)
	}
	id, err := cgroupID(path)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	for _, h := range d.objs.Sock.Hooks() {
		pin := filepath.Join(d.dir, "links", cgroupLinkPrefix+h.Name)
		if l, err := link.LoadPinnedLink(pin, nil); err == nil {
			info, ierr := l.Info()
			if ierr == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == id {
				if err := l.Update(h.Program); err != nil {
					l.Close()
					return fmt.Errorf("update pinned %s link: %w", h.Name, err)
				}
				d.links["cgroup/"+h.Name] = l
				slog.Debug("re-adopted cgroup link", "cgroup", path, "hook", h.Name)
				continue
			}
			// Another cgroup (or a dead one): replace it.
			_ = l.Unpin()
			l.Close()
		}
		l, err := link.AttachCgroup(link.CgroupOptions{Path: path, Attach: h.Attach, Program: h.Program})
		if err != nil {
			return fmt.Errorf("attach %s to cgroup %s: %w", h.Name, path, err)
		}
		if err := l.Pin(pin); err != nil {
			l.Close()
			return fmt.Errorf("pin %s cgroup link: %w (the kernel lacks bpf_link for cgroups?)", h.Name, err)
		}
		d.links["cgroup/"+h.Name] = l
	}
	slog.Info("socket-level service balancing attached", "cgroup", path)
	return nil
}

// DetachCgroup removes the socket-level balancer from its cgroup, whether
// this Dataplane or an earlier run attached it.
func (d *Dataplane) DetachCgroup() error {
	var errs []error
	for _, h := range d.objs.Sock.Hooks() {
		name := "cgroup/" + h.Name
		if l, ok := d.links[name]; ok {
			if err := l.Unpin(); err != nil {
				errs = append(errs, err)
			}
			l.Close()
			delete(d.links, name)
		}
	}
	errs = append(errs, removeCgroupPins(d.dir))
	return errors.Join(errs...)
}

// removeCgroupPins detaches the pinned cgroup links under node directory
// dir (a link's program leaves its cgroup with its last reference).
func removeCgroupPins(dir string) error {
	ents, _ := os.ReadDir(filepath.Join(dir, "links"))
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), cgroupLinkPrefix) {
			continue
		}
		p := filepath.Join(dir, "links", e.Name())
		l, err := link.LoadPinnedLink(p, nil)
		if err != nil {
			errs = append(errs, os.Remove(p))
			continue
		}
		errs = append(errs, l.Unpin())
		l.Close()
	}
	return errors.Join(errs...)
}

// Sock returns the loaded socket-level programs (for tests and tools).
func (d *Dataplane) Sock() *lb.SockPrograms { return &d.objs.Sock }
