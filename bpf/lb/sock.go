package lb

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// SockPrograms are the cgroup sock_addr programs of sock.h that balance
// traffic the node itself originates: attach them to a cgroup v2 directory
// (dataplane/loader AttachCgroup) with the matching attach types.
type SockPrograms struct {
	Connect4     *ebpf.Program // BPF_CGROUP_INET4_CONNECT: TCP and connected UDP
	Sendmsg4     *ebpf.Program // BPF_CGROUP_UDP4_SENDMSG: unconnected UDP
	Recvmsg4     *ebpf.Program // BPF_CGROUP_UDP4_RECVMSG: replies show the frontend
	Getpeername4 *ebpf.Program // BPF_CGROUP_INET4_GETPEERNAME: the peer is the frontend
}

// SockHook is one socket program with its attach type and a stable name
// (used for link pins).
type SockHook struct {
	Name    string
	Attach  ebpf.AttachType
	Program *ebpf.Program
}

// Hooks lists the programs in attach order.
func (s *SockPrograms) Hooks() []SockHook {
	return []SockHook{
		{"connect4", ebpf.AttachCGroupInet4Connect, s.Connect4},
		{"sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, s.Sendmsg4},
		{"recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, s.Recvmsg4},
		{"getpeername4", ebpf.AttachCgroupInet4GetPeername, s.Getpeername4},
	}
}

func (s *SockPrograms) close() {
	for _, h := range s.Hooks() {
		if h.Program != nil {
			h.Program.Close()
		}
	}
}

// NetnsCookie returns the cookie of the calling thread's network namespace
// (SO_NETNS_COOKIE, Linux 5.14+), for Config.SockNetnsCookie.
func NetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket for the network namespace cookie: %w", err)
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("read SO_NETNS_COOKIE: %w (needs Linux 5.14 or later)", err)
	}
	return c, nil
}

// SockXlate is one record of the socket translation map: for Dir "rev",
// socket Cookie talking to backend Addr answers as frontend To; for "fwd",
// the unconnected UDP socket sends frontend Addr to backend To.
type SockXlate struct {
	Cookie    uint64
	Dir       string
	Addr      netip.AddrPort
	To        netip.AddrPort
	BackendID uint32
}

// ListSockXlate reads the socket translation map.
func (m *Maps) ListSockXlate() ([]SockXlate, error) {
	if m.SockXlate == nil {
		return nil, errors.New("the pinned dataplane has no socket translation map")
	}
	var out []SockXlate
	var k lbSockXlateKey
	var v lbSockXlate
	it := m.SockXlate.Iterate()
	for it.Next(&k, &v) {
		dir := "rev"
		if k.Dir == uint8(lbSockXlateDirSOCK_XLATE_FWD) {
			dir = "fwd"
		}
		out = append(out, SockXlate{Cookie: k.Cookie, Dir: dir,
			Addr: netip.AddrPortFrom(u32Addr(k.Addr), portN(k.Port)),
			To:   netip.AddrPortFrom(u32Addr(v.Addr), portN(v.Port)), BackendID: v.BackendId})
	}
	return out, it.Err()
}

var sockStatNames = map[lbSockStat]string{
	lbSockStatSOCK_STAT_CONNECT: "sock_connect_rewritten", lbSockStatSOCK_STAT_SENDMSG: "sock_sendmsg_rewritten",
	lbSockStatSOCK_STAT_RECVMSG: "sock_recvmsg_reversed", lbSockStatSOCK_STAT_PEERNAME: "sock_peername_reversed",
	lbSockStatSOCK_STAT_NO_BACKEND: "sock_refused_no_backend", lbSockStatSOCK_STAT_XLATE_FULL: "sock_xlate_not_stored",
	lbSockStatSOCK_STAT_DNS_STEERED: "sock_dns_steered",
}

// ReadSockStats sums the per-CPU socket-level counters (also part of
// ReadStats).
func (m *Maps) ReadSockStats() (map[string]uint64, error) {
	if m.SockStats == nil {
		return nil, errors.New("the pinned dataplane has no socket-level counters")
	}
	out := map[string]uint64{}
	for s := lbSockStat(0); s < lbSockStatSOCK_STAT_MAX; s++ {
		var per []uint64
		if err := m.SockStats.Lookup(uint32(s), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", sockStatNames[s], err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[sockStatNames[s]] = sum
	}
	return out, nil
}
