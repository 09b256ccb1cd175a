package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/internal/nstest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// hpLab is client ⇄ node (uplink up0, node IP 10.1.0.1) ⇄ two pods wired by
// podnet exactly as the agent wires them, each serving TCP and UDP on 8080
// and answering with the address it saw the request come from.
type hpLab struct {
	tp                *nstest.Topo
	cli, node         *nstest.NS
	pod1, pod2        *nstest.NS
	ip1, ip2          netip.Addr
	nodeName          string
	cs                *fake.Clientset
	stop              func()
	clientIP, nodeIP  netip.Addr
	hostPort, podPort uint16
	pn                *podnet.Network
	attachEvery       time.Duration // the proxy's Config.AttachEvery (0: default)
}

func newHPLab(t *testing.T) *hpLab {
	t.Helper()
	nstest.RequirePrivileged(t)
	l := &hpLab{tp: nstest.New(t), clientIP: netip.MustParseAddr("10.1.0.2"), nodeIP: netip.MustParseAddr("10.1.0.1"),
		hostPort: 8081, podPort: 8080}
	l.nodeName = l.tp.Prefix
	t.Cleanup(func() { _ = loader.RemovePins(loader.DefaultPinRoot, l.nodeName) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	for _, p := range []struct {
		ns   **nstest.NS
		name string
	}{{&l.cli, "cli"}, {&l.node, "node"}, {&l.pod1, "pod1"}, {&l.pod2, "pod2"}} {
		*p.ns, err = l.tp.NS(p.name)
		must(err)
	}
	must(l.tp.Veth(l.cli, "eth0", "10.1.0.2/24", l.node, "up0", "10.1.0.1/24"))
	l.cli.MustRun(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	l.node.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=2") // Debian: systemd makes new interfaces loose)
	pn, err := podnet.New(podnet.Config{DataDir: t.TempDir(), PodCIDR: netip.MustParsePrefix("10.244.0.0/24"),
		HostNetNS: "/run/netns/" + l.node.Name})
	must(err)
	t.Cleanup(func() { pn.Close() })
	l.pn = pn
	for i, p := range []*nstest.NS{l.pod1, l.pod2} {
		ip, err := pn.Setup(context.Background(), podnet.PodRef{Namespace: "default", Name: fmt.Sprintf("pod%d", i+1),
			UID: fmt.Sprintf("%s-uid-%d", l.tp.Prefix, i+1)}, "/run/netns/"+p.Name)
		must(err)
		if i == 0 {
			l.ip1 = ip
		} else {
			l.ip2 = ip
		}
		must(serveClientAddr(t, p, l.podPort))
	}
	l.cs = fake.NewClientset()
	return l
}

// serveClientAddr answers every TCP connection and UDP datagram on port
// with the remote address as the pod sees it.
func serveClientAddr(t *testing.T, ns *nstest.NS, port uint16) error {
	var ln net.Listener
	var pc net.PacketConn
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return err
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, c.RemoteAddr().String()+"\n")
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()), from)
		}
	}()
	return nil
}

func (l *hpLab) pod(name string, ip netip.Addr) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: l.nodeName, Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{
			{Name: "tcp", ContainerPort: int32(l.podPort), HostPort: int32(l.hostPort), Protocol: corev1.ProtocolTCP},
			{Name: "udp", ContainerPort: int32(l.podPort), HostPort: int32(l.hostPort), Protocol: corev1.ProtocolUDP, HostIP: "0.0.0.0"},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip.String()},
	}
}

// startProxy runs the proxy inside the node namespace, as the agent runs it
// in the root namespace, with the socket-level balancer on sockCgroup
// ("": off); the returned function stops it.
func (l *hpLab) startProxy(t *testing.T, sockCgroup string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- l.node.Do(func() error {
			return Run(ctx, Config{Node: l.nodeName, Client: l.cs, NodeIP: l.nodeIP, Coalesce: 5 * time.Millisecond, SockCgroup: sockCgroup,
				AttachEvery: l.attachEvery})
		})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("proxy: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// askTCP connects from ns to addr and returns what the server saw as the
// client address.
func askTCP(ns *nstest.NS, addr netip.AddrPort) (string, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", addr.String(), 2*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(s), err
}

// askUDP sends one datagram from an unconnected socket in ns, so the
// answer's real source address is seen, and returns (answer, source).
func askUDP(ns *nstest.NS, addr netip.AddrPort) (string, netip.AddrPort, error) {
	var pc net.PacketConn
	if err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp4", ":0"); return err }); err != nil {
		return "", netip.AddrPort{}, err
	}
	defer pc.Close()
	_ = pc.SetDeadline(time.Now().Add(time.Second))
	if _, err := pc.WriteTo([]byte("who"), net.UDPAddrFromAddrPort(addr)); err != nil {
		return "", netip.AddrPort{}, err
	}
	buf := make([]byte, 64)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	return string(buf[:n]), from.(*net.UDPAddr).AddrPort(), nil
}

// askUDPConnected sends one datagram on a connected socket: an ICMP port
// unreachable shows as ECONNREFUSED.
func askUDPConnected(ns *nstest.NS, addr netip.AddrPort) error {
	var c net.Conn
	if err := ns.Do(func() (err error) { c, err = net.Dial("udp4", addr.String()); return err }); err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("who")); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 64))
	return err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantRefused(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	return fmt.Errorf("got %v, want connection refused", err)
}

func pinnedLinkID(t *testing.T, path string) uint32 {
	t.Helper()
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		t.Fatalf("uplink TCX link pin: %v", err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	return uint32(info.ID)
}

func TestPrivilegedHostPort(t *testing.T) {
	l := newHPLab(t)
	front := netip.AddrPortFrom(l.nodeIP, l.hostPort)
	ctx := context.Background()
	pods := l.cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, l.pod("pod1", l.ip1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Before the proxy runs nothing listens on the node: refused.
	if _, err := askTCP(l.cli, front); wantRefused(err) != nil {
		t.Fatalf("before the proxy: %v", wantRefused(err))
	}
	stop := l.startProxy(t, "")

	// From another machine: TCP reaches pod1 and pod1 sees the real client.
	eventually(t, "TCP client → nodeIP:hostPort", func() error {
		seen, err := askTCP(l.cli, front)
		if err == nil && !strings.HasPrefix(seen, l.clientIP.String()+":") {
			return fmt.Errorf("pod saw client %q, want %s", seen, l.clientIP)
		}
		return err
	})
	// UDP: the answer comes back from nodeIP:hostPort, not from the pod.
	eventually(t, "UDP client → nodeIP:hostPort", func() error {
		seen, from, err := askUDP(l.cli, front)
		switch {
		case err != nil:
			return err
		case from != front:
			return fmt.Errorf("answer from %s, want %s", from, front)
		case !strings.HasPrefix(seen, l.clientIP.String()+":"):
			return fmt.Errorf("pod saw client %q, want %s", seen, l.clientIP)
		}
		return nil
	})
	// Another pod on the node reaches pod1's hostPort (once the attach loop
	// has put the balancer on its veth) and is seen as itself.
	eventually(t, "TCP pod2 → nodeIP:hostPort", func() error {
		seen, err := askTCP(l.pod2, front)
		if err == nil && !strings.HasPrefix(seen, l.ip2.String()+":") {
			return fmt.Errorf("pod saw client %q, want %s", seen, l.ip2)
		}
		return err
	})
	seen, from, err := askUDP(l.pod2, front)
	if err != nil || from != front || !strings.HasPrefix(seen, l.ip2.String()+":") {
		t.Fatalf("pod2 UDP → nodeIP:hostPort: %q from %s, %v", seen, from, err)
	}
	// Hairpin: pod1 reaches its own hostPort (SNAT to the hairpin address).
	if seen, err := askTCP(l.pod1, front); err != nil || !strings.HasPrefix(seen, "169.254.77.1:") {
		t.Fatalf("pod1 → its own hostPort: saw %q, %v; want the hairpin address", seen, err)
	}

	// The uplink carries the node's own traffic untouched: a server on the
	// node, a connection the node opens, ping.
	must(t, serveClientAddr(t, l.node, 9999))
	if seen, err := askTCP(l.cli, netip.AddrPortFrom(l.nodeIP, 9999)); err != nil || !strings.HasPrefix(seen, l.clientIP.String()+":") {
		t.Fatalf("client → node's own server: saw %q, %v", seen, err)
	}
	must(t, serveClientAddr(t, l.cli, 9998))
	if seen, err := askTCP(l.node, netip.AddrPortFrom(l.clientIP, 9998)); err != nil || !strings.HasPrefix(seen, l.nodeIP.String()+":") {
		t.Fatalf("node → client: saw %q, %v", seen, err)
	}
	l.cli.MustRun(t, "ping", "-c1", "-W2", l.nodeIP.String())

	// The uplink attachment is pinned with the node's pins.
	pin := filepath.Join(loader.DefaultPinRoot, l.nodeName, "links", "tcx-ingress-up0")
	id := pinnedLinkID(t, pin)

	// Deleting the pod unpublishes the port: refused again.
	if err := pods.Delete(ctx, "pod1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TCP after the pod is gone", func() error { _, err := askTCP(l.cli, front); return wantRefused(err) })
	if err := askUDPConnected(l.cli, front); wantRefused(err) != nil {
		t.Fatalf("UDP after the pod is gone: %v", wantRefused(err))
	}

	// The hostPort moves to pod2; a stopped proxy leaves it working, and a
	// restarted one re-adopts the pinned uplink link instead of making one.
	if _, err := pods.Create(ctx, l.pod("pod2", l.ip2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "TCP to the hostPort of pod2", func() error {
		seen, err := askTCP(l.cli, front)
		if err == nil && !strings.HasPrefix(seen, l.clientIP.String()+":") {
			return fmt.Errorf("pod saw client %q", seen)
		}
		return err
	})
	stop()
	if _, err := askTCP(l.cli, front); err != nil {
		t.Fatalf("hostPort after the proxy stopped: %v", err)
	}
	stop = l.startProxy(t, "")
	time.Sleep(500 * time.Millisecond) // attach loop ran
	if got := pinnedLinkID(t, pin); got != id {
		t.Fatalf("uplink link %d after restart, want the pinned %d re-adopted", got, id)
	}
	if _, err := askTCP(l.cli, front); err != nil {
		t.Fatalf("hostPort after the proxy restarted: %v", err)
	}
	// Cleanup (agentclean, `skiff bpf remove`) detaches the uplink too.
	stop()
	if err := loader.RemovePins(loader.DefaultPinRoot, l.nodeName); err != nil {
		t.Fatal(err)
	}
	if _, err := askTCP(l.cli, front); wantRefused(err) != nil {
		t.Fatalf("after removing the pins: %v", wantRefused(err))
	}
}

// A pod veth made while the proxy runs gets the balancer from the netlink
// link update, not the periodic scan (an hour apart here): in the agent it
// is attached before the pod's first packet.
func TestPrivilegedVethAttachedWhenCreated(t *testing.T) {
	l := newHPLab(t)
	l.attachEvery = time.Hour
	l.startProxy(t, "")
	pin := func(uid string) string {
		return filepath.Join(loader.DefaultPinRoot, l.nodeName, "links", "tcx-ingress-"+podnet.HostVethName("skp", uid))
	}
	exists := func(path string) func() error {
		return func() error { _, err := os.Stat(path); return err }
	}
	eventually(t, "pod1's veth attached by the first scan", exists(pin(l.tp.Prefix+"-uid-1")))
	pod3, err := l.tp.NS("pod3")
	if err != nil {
		t.Fatal(err)
	}
	uid := l.tp.Prefix + "-uid-3"
	if _, err := l.pn.Setup(context.Background(), podnet.PodRef{Namespace: "default", Name: "pod3", UID: uid}, "/run/netns/"+pod3.Name); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new pod's veth attached on its link update", exists(pin(uid)))
}
