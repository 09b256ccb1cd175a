package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
)

// RequirePrivileged skips t unless SKIFF_PRIVILEGED=1 and we are root.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	if os.Getenv("SKIFF_PRIVILEGED") != "1" {
		t.Skip("privileged test: set SKIFF_PRIVILEGED=1 and run as root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("SKIFF_PRIVILEGED=1 but not root: run the privileged tier as root (sudo make test)")
	}
}

// Cleaner collects undo steps and runs them in reverse order.
type Cleaner struct {
	mu    sync.Mutex
	steps []func()
}

// Add registers f to run at Cleanup.
func (c *Cleaner) Add(f func()) {
	c.mu.Lock()
	c.steps = append(c.steps, f)
	c.mu.Unlock()
}

// Cleanup runs the registered steps, last first. It is safe to call twice.
func (c *Cleaner) Cleanup() {
	c.mu.Lock()
	steps := c.steps
	c.steps = nil
	c.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		steps[i]()
	}
}

// Topo is one test's set of namespaces; every name starts with Prefix.
type Topo struct {
	Prefix string
	c      *Cleaner
}

// New returns a topology whose objects are removed by t.Cleanup.
func New(t testing.TB) *Topo {
	t.Helper()
	c := &Cleaner{}
	t.Cleanup(c.Cleanup)
	return NewWithCleaner(c)
}

// NewWithCleaner is New for callers without a *testing.T (bench harness).
func NewWithCleaner(c *Cleaner) *Topo {
	return &Topo{Prefix: UniquePrefix(), c: c}
}

// UniquePrefix returns "sk" plus 6 hex digits: short enough that the prefix
// plus a dash and 6 more characters fits Linux's 15-byte interface names.
func UniquePrefix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "sk" + hex.EncodeToString(b)
}

// NS is one named network namespace.
type NS struct {
	Name string
	topo *Topo
}

// NS creates namespace Prefix-name with loopback up.
func (tp *Topo) NS(name string) (*NS, error) {
	full := tp.Prefix + "-" + name
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", full, err, out)
	}
	ns := &NS{Name: full, topo: tp}
	tp.c.Add(func() { ns.destroy() })
	if _, err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	return ns, nil
}

func (ns *NS) destroy() {
	// Kill anything still running inside before removing the namespace.
	if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", ns.Name).Run()
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(args ...string) (string, error) {
	full := append([]string{"netns", "exec", ns.Name}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustRun is Run that fails t on error.
func (ns *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Start starts a long-running command in the namespace in its own session
// with stdin from /dev/null; it is killed at cleanup. Output goes to the
// returned buffer-less command's Stdout/Stderr if the caller sets them first
// via the prepare hook.
func (ns *NS) Start(prepare func(*exec.Cmd), args ...string) (*exec.Cmd, error) {
	full := append([]string{"netns", "exec", ns.Name}, args...)
	cmd := exec.Command("ip", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = devnull
	if prepare != nil {
		prepare(cmd)
	}
	if err := cmd.Start(); err != nil {
		devnull.Close()
		return nil, fmt.Errorf("start %s in %s: %w", strings.Join(args, " "), ns.Name, err)
	}
	ns.topo.c.Add(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		devnull.Close()
	})
	return cmd, nil
}

// Do runs f with the calling goroutine's thread switched into the namespace.
// Sockets opened inside f belong to the namespace and stay there after f
// returns.
func (ns *NS) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", ns.Name, err)
	}
	defer func() { _ = netns.Set(orig) }()
	return f()
}

// Veth links namespace a (interface aIf, address aAddr in CIDR form) with
// namespace b (bIf, bAddr). Empty addresses are left unset. Both ends are up.
func (tp *Topo) Veth(a *NS, aIf, aAddr string, b *NS, bIf, bAddr string) error {
	tmpA, tmpB := tp.Prefix+"a"+aIf, tp.Prefix+"b"+bIf
	if len(tmpA) > 15 || len(tmpB) > 15 {
		tmpA, tmpB = tp.Prefix+"x", tp.Prefix+"y"
	}
	if out, err := exec.Command("ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB).CombinedOutput(); err != nil {
		return fmt.Errorf("create veth: %v: %s", err, out)
	}
	tp.c.Add(func() { _ = exec.Command("ip", "link", "del", tmpA).Run() })
	for _, end := range []struct {
		tmp, ifname, addr string
		ns                *NS
	}{{tmpA, aIf, aAddr, a}, {tmpB, bIf, bAddr, b}} {
		if out, err := exec.Command("ip", "link", "set", end.tmp, "netns", end.ns.Name).CombinedOutput(); err != nil {
			return fmt.Errorf("move %s to %s: %v: %s", end.tmp, end.ns.Name, err, out)
		}
		if _, err := end.ns.Run("ip", "link", "set", end.tmp, "name", end.ifname); err != nil {
			return err
		}
		if end.addr != "" {
			if _, err := end.ns.Run("ip", "addr", "add", end.addr, "dev", end.ifname); err != nil {
				return err
			}
		}
		if _, err := end.ns.Run("ip", "link", "set", end.ifname, "up"); err != nil {
			return err
		}
	}
	return nil
}
