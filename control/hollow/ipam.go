package hollow

import (
	"fmt"
	"net/netip"
	"sync"
)

// ipam hands out pod IPs from one IPv4 prefix, skipping the network
// address, the first host (the gateway by convention) and broadcast.
type ipam struct {
	mu     sync.Mutex
	prefix netip.Prefix
	used   map[netip.Addr]string // IP → pod key
	byPod  map[string]netip.Addr
	next   netip.Addr
}

func newIPAM(p netip.Prefix) (*ipam, error) {
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %s: need an IPv4 prefix of /30 or larger", p)
	}
	return &ipam{prefix: p, used: map[netip.Addr]string{}, byPod: map[string]netip.Addr{}, next: p.Addr().Next().Next()}, nil
}

func (a *ipam) usable(ip netip.Addr) bool {
	if !a.prefix.Contains(ip) {
		return false
	}
	first := a.prefix.Addr().Next() // gateway
	return ip.Compare(first) > 0 && a.prefix.Contains(ip.Next())
}

// adopt records an IP a pod already has (after a restart).
func (a *ipam) adopt(key string, ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.usable(ip) {
		return false
	}
	if owner, ok := a.used[ip]; ok && owner != key {
		return false
	}
	a.used[ip] = key
	a.byPod[key] = ip
	return true
}

// get returns key's IP, allocating one if needed.
func (a *ipam) get(key string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byPod[key]; ok {
		return ip, nil
	}
	start := a.next
	ip := start
	for {
		if !a.usable(ip) {
			ip = a.prefix.Addr().Next().Next()
		}
		if _, taken := a.used[ip]; !taken {
			a.used[ip] = key
			a.byPod[key] = ip
			a.next = ip.Next()
			return ip, nil
		}
		ip = ip.Next()
		if ip == start {
			return netip.Addr{}, fmt.Errorf("pod CIDR %s is full (%d pods): raise the node's pod CIDR size or lower max pods", a.prefix, len(a.used))
		}
	}
}

func (a *ipam) release(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byPod[key]; ok {
		delete(a.byPod, key)
		delete(a.used, ip)
	}
}

func (a *ipam) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.used)
}

// generatedCIDR is the fallback /24 for node index i inside 100.64.0.0/10.
func generatedCIDR(i int) netip.Prefix {
	base := uint32(100)<<24 | uint32(64)<<16
	v := base + uint32(i%16384)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
}

// nodeIP is the fake InternalIP of node index i, from 198.18.0.0/15 (the
// range set aside for benchmarking).
func nodeIP(i int) netip.Addr {
	n := i + 1
	return netip.AddrFrom4([4]byte{198, 18 + byte(n>>16&1), byte(n >> 8), byte(n)})
}
