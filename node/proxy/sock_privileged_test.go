package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/internal/nstest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// askTCPInCgroup connects with bash's /dev/tcp from a process in ns and in
// the cgroup cgfd and returns the server's line.
func askTCPInCgroup(ns *nstest.NS, cgfd int, addr netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%d && head -n1 <&3", addr.Addr(), addr.Port())
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "bash", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: cgfd}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// TestPrivilegedSockHostPortFromNode checks that the proxy attaches the
// socket-level balancer to Config.SockCgroup, so a process on the node
// reaches nodeIP:hostPort, and that a proxy started with it disabled
// removes it.
func TestPrivilegedSockHostPortFromNode(t *testing.T) {
	l := newHPLab(t)
	root, err := loader.DefaultCgroupPath()
	if err != nil {
		t.Fatal(err)
	}
	cg, cgfd := l.tp.Cgroup(t, root, "proxy")
	front := netip.AddrPortFrom(l.nodeIP, l.hostPort)
	if _, err := l.cs.CoreV1().Pods("default").Create(context.Background(), l.pod("pod1", l.ip1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := l.startProxy(t, cg)
	// The node's own connection goes to pod1 (the answer is the address
	// pod1 saw: the node's, from the pod veth's route).
	eventually(t, "node → nodeIP:hostPort", func() error {
		seen, err := askTCPInCgroup(l.node, cgfd, front)
		if err == nil && !strings.Contains(seen, ":") {
			return fmt.Errorf("answer %q is no address", seen)
		}
		return err
	})
	// 127.0.0.1:hostPort is nodeIP:hostPort for the node's own sockets.
	loop := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.hostPort)
	if seen, err := askTCPInCgroup(l.node, cgfd, loop); err != nil || !strings.Contains(seen, ":") {
		t.Fatalf("node → %s: %q, %v; want pod1's answer", loop, seen, err)
	}
	stop()
	// Restarted with socket balancing disabled: the pinned links go, and
	// nothing on the node listens on the hostPort.
	stop = l.startProxy(t, "")
	eventually(t, "node → nodeIP:hostPort refused once disabled", func() error {
		_, err := askTCPInCgroup(l.node, cgfd, front)
		if err == nil {
			return fmt.Errorf("still reached the pod")
		}
		if !strings.Contains(err.Error(), "refused") {
			return fmt.Errorf("got %v, want connection refused", err)
		}
		return nil
	})
	stop()
}
