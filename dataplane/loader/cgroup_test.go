package loader

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/internal/nstest"
)

// sockLab is a node network namespace with two backend namespaces (b1 at
// 10.77.1.2, b2 at 10.77.2.2, each serving its name on TCP 8080 and UDP
// 5353), a decoy server on the VIP itself in the node namespace (name
// "direct" on 10.96.77.10 TCP 80, TCP 53 and UDP 53: what a socket reaches when
// nothing translates it), a test cgroup and the dataplane of the node with
// the socket programs attached to that cgroup.
type sockLab struct {
	t    *testing.T
	tp   *nstest.Topo
	node *nstest.NS
	pods []*nstest.NS
	dp   *Dataplane
	cg   string
	cgfd int
}

const (
	labVIP       = "10.96.77.10"
	labEmptyVIP  = "10.96.77.11"
	labAffVIP    = "10.96.77.12"
	labMaglevVIP = "10.96.77.13"
)

func newSockLab(t *testing.T) *sockLab {
	nstest.RequirePrivileged(t)
	l := &sockLab{t: t, tp: nstest.New(t)}
	var err error
	if l.node, err = l.tp.NS("sn"); err != nil {
		t.Fatal(err)
	}
	l.node.MustRun(t, "ip", "addr", "add", labVIP+"/32", "dev", "lo")
	for i := 1; i <= 2; i++ {
		ns, err := l.tp.NS(fmt.Sprintf("b%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.tp.Veth(l.node, fmt.Sprintf("v%d", i), fmt.Sprintf("10.77.%d.1/24", i), ns, "eth0", fmt.Sprintf("10.77.%d.2/24", i)); err != nil {
			t.Fatal(err)
		}
		ns.MustRun(t, "ip", "route", "add", "default", "via", fmt.Sprintf("10.77.%d.1", i))
		name := fmt.Sprintf("b%d", i)
		l.serve(ns, "serve-tcp", "0.0.0.0:8080", name)
		l.serve(ns, "serve-udp", "0.0.0.0:5353", name)
		l.pods = append(l.pods, ns)
	}
	l.serve(l.node, "serve-tcp", labVIP+":80", "direct")
	l.serve(l.node, "serve-udp", labVIP+":53", "direct")
	l.serve(l.node, "serve-tcp", labVIP+":53", "direct") // node-local DNS stand-in

	root, err := DefaultCgroupPath()
	if err != nil {
		t.Fatal(err)
	}
	l.cg, l.cgfd = l.tp.Cgroup(t, root, "sock")

	t.Cleanup(func() { _ = RemovePins("", l.tp.Prefix) })
	l.open()
	if err := l.dp.AttachCgroup(l.cg); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"10.77.1.2", "10.77.2.2"} {
		l.waitServing(b)
	}
	l.waitServing(labVIP)
	return l
}

func (l *sockLab) open() {
	l.t.Helper()
	err := l.node.Do(func() (err error) { l.dp, err = Open(Options{Node: l.tp.Prefix}); return err })
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { l.dp.Close() })
}

func (l *sockLab) serve(ns *nstest.NS, mode, addr, name string) {
	l.t.Helper()
	_, err := ns.Start(func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "SKIFF_SOCK_HELPER="+mode, "SKIFF_SOCK_ADDR="+addr, "SKIFF_SOCK_NAME="+name)
	}, os.Args[0], "-test.run=^TestSockHelperProcess$")
	if err != nil {
		l.t.Fatal(err)
	}
}

// waitServing waits until addr answers on TCP 8080 / 80 and UDP from
// outside the test cgroup.
func (l *sockLab) waitServing(addr string) {
	l.t.Helper()
	tcp, udp := addr+":8080", addr+":5353"
	if addr == labVIP {
		tcp, udp = addr+":80", addr+":53"
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		a := l.client(l.node, false, "tcp", tcp, 1)
		b := l.client(l.node, false, "udpconn", udp, 1)
		c := a
		if addr == labVIP {
			c = l.client(l.node, false, "tcp", udp, 1)
		}
		if !strings.HasPrefix(a[0], "error") && !strings.HasPrefix(b[0], "error") && !strings.HasPrefix(c[0], "error") {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s does not serve: %v %v", addr, a, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client runs the helper in ns (in the test cgroup when inCgroup) and
// returns its output lines.
func (l *sockLab) client(ns *nstest.NS, inCgroup bool, mode, addr string, n int) []string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, os.Args[0], "-test.run=^TestSockHelperProcess$")
	cmd.Env = append(os.Environ(), "SKIFF_SOCK_HELPER="+mode, "SKIFF_SOCK_ADDR="+addr, fmt.Sprintf("SKIFF_SOCK_N=%d", n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if inCgroup {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = l.cgfd
	}
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) == 0 {
		l.t.Fatalf("client %s %s: %v:\n%s", mode, addr, err, out)
	}
	return lines
}

// service programs frontend vip:port/proto with backends (b1, b2 at port).
func (l *sockLab) service(id uint32, vip string, port uint16, proto uint8, affinity bool, backends []string, bport uint16) {
	l.t.Helper()
	l.serviceAlg(id, vip, port, proto, affinity, false, backends, bport)
}

func (l *sockLab) serviceAlg(id uint32, vip string, port uint16, proto uint8, affinity, maglev bool, backends []string, bport uint16) {
	l.t.Helper()
	m := l.dp.Maps()
	var names []string
	var ids []uint32
	for i, b := range backends {
		names = append(names, b)
		ids = append(ids, id*10+uint32(i))
		bid := id*10 + uint32(i)
		if err := m.PutBackend(bid, lb.Backend{Addr: netip.MustParseAddr(b), Port: bport, ServiceID: id}); err != nil {
			l.t.Fatal(err)
		}
		if err := m.PutSlot(id, 0, uint16(i), bid); err != nil {
			l.t.Fatal(err)
		}
	}
	if maglev {
		if err := m.PutMaglev(id, 0, lb.MaglevTable(names, ids)); err != nil {
			l.t.Fatal(err)
		}
	}
	e := lb.ServiceEntry{ID: id, Count: uint16(len(backends)), Affinity: affinity, Maglev: maglev}
	if affinity {
		e.AffinityTimeout = time.Minute
	}
	if err := m.PutService(lb.ServiceKey{VIP: netip.MustParseAddr(vip), Port: port, Proto: proto}, e); err != nil {
		l.t.Fatal(err)
	}
}

var labBackends = []string{"10.77.1.2", "10.77.2.2"}

func (l *sockLab) services() {
	l.service(1, labVIP, 80, lb.ProtoTCP, false, labBackends, 8080)
	l.service(2, labVIP, 53, lb.ProtoUDP, false, labBackends, 5353)
	l.service(3, labEmptyVIP, 80, lb.ProtoTCP, false, nil, 0)
	l.service(4, labEmptyVIP, 53, lb.ProtoUDP, false, nil, 0)
	l.service(5, labAffVIP, 80, lb.ProtoTCP, true, labBackends, 8080)
	l.serviceAlg(7, labMaglevVIP, 80, lb.ProtoTCP, false, true, labBackends, 8080)
}

// names counts the server names in the first field of lines and fails
// unless every line's other fields equal want.
func names(t *testing.T, lines []string, want string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, ln := range lines {
		f := strings.SplitN(ln, " ", 2)
		if len(f) != 2 || f[1] != want {
			t.Fatalf("line %q: want \"<name> %s\"; all:\n%s", ln, want, strings.Join(lines, "\n"))
		}
		got[f[0]]++
	}
	return got
}

func balanced(t *testing.T, what string, got map[string]int) {
	t.Helper()
	if len(got) != 2 || got["b1"] == 0 || got["b2"] == 0 {
		t.Fatalf("%s: backends reached %v, want both b1 and b2", what, got)
	}
}

// attachedSock counts the programs attached to the test cgroup per hook.
func (l *sockLab) attachedSock() map[string]int {
	l.t.Helper()
	out := map[string]int{}
	for _, h := range l.dp.Sock().Hooks() {
		res, err := link.QueryPrograms(link.QueryOptions{Target: l.cgfd, Attach: h.Attach})
		if err != nil {
			l.t.Fatalf("query %s programs of %s: %v", h.Name, l.cg, err)
		}
		out[h.Name] = len(res.Programs)
	}
	return out
}
