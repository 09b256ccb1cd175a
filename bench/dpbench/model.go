package dpbench

import (
	"fmt"
	"net/netip"
)

// Service is one ClusterIP service port with its endpoints, as every mode
// programs it.
type Service struct {
	Name      string // namespace/name:port, used for chain hashes
	VIP       netip.Addr
	Port      uint16
	Endpoints []netip.AddrPort
}

// ServicePort is the port every benchmark service listens on; TargetPort is
// where the backends' servers listen.
const (
	ServicePort = 80
	TargetPort  = 8080
)

// addrAdd returns a shifted by n (IPv4 only).
func addrAdd(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// fakeEndpointBase is where the endpoints of the filler services live. They
// are never reached: only the benchmarked (last) service's endpoints are
// real backends.
var fakeEndpointBase = netip.MustParseAddr("172.16.0.1")

// MaxServices is the largest service count the address plan supports
// (VIP ranges are /14 per mode; filler endpoints come from 172.16/12).
const MaxServices = 250000

// BuildServices returns n services with VIPs counting up from vipBase. The
// first n-1 are filler services with 3 unreachable endpoints each; the last
// one is the benchmarked service whose endpoints are the real backends, so
// rule-walking layouts pay for every filler service before reaching it.
func BuildServices(n int, vipBase netip.Addr, real []netip.Addr) ([]Service, error) {
	if n < 1 || n > MaxServices {
		return nil, fmt.Errorf("service count %d out of range: use 1..%d", n, MaxServices)
	}
	if len(real) == 0 {
		return nil, fmt.Errorf("the benchmarked service needs at least one backend")
	}
	svcs := make([]Service, n)
	for i := 0; i < n; i++ {
		s := Service{
			Name: fmt.Sprintf("bench/svc-%d:http", i),
			VIP:  addrAdd(vipBase, uint32(i)),
			Port: ServicePort,
		}
		if i == n-1 {
			for _, a := range real {
				s.Endpoints = append(s.Endpoints, netip.AddrPortFrom(a, TargetPort))
			}
		} else {
			for e := 0; e < 3; e++ {
				s.Endpoints = append(s.Endpoints, netip.AddrPortFrom(addrAdd(fakeEndpointBase, uint32(i*3+e)), TargetPort))
			}
		}
		svcs[i] = s
	}
	return svcs, nil
}
