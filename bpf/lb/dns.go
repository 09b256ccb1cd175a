package lb

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// DNSPort is the port steered on both sides: pods ask (cluster DNS IP, 53),
// the node-local server answers on (local address, 53).
const DNSPort = 53

// DefaultDNSMaxAge is how long a heartbeat keeps steering on when
// DNSSteering.MaxAge is zero.
const DefaultDNSMaxAge = 3 * time.Second

// DNSSteering is the node-local DNS steering configuration (the single
// entry of the lb_dns map). Steering is on while ClusterIP and LocalIP are
// set and Monotonic() - Heartbeat < MaxAge.
type DNSSteering struct {
	ClusterIP netip.Addr    // cluster DNS Service IP pods query
	LocalIP   netip.Addr    // node-local DNS server address
	Heartbeat time.Duration // CLOCK_MONOTONIC time of the last heartbeat (Monotonic()); 0: stopped
	MaxAge    time.Duration // 0: DefaultDNSMaxAge
}

// Fresh reports whether the program would steer at monotonic time now.
func (s DNSSteering) Fresh(now time.Duration) bool {
	age := s.MaxAge
	if age == 0 {
		age = DefaultDNSMaxAge
	}
	return s.ClusterIP.IsValid() && s.LocalIP.IsValid() && s.Heartbeat != 0 &&
		now >= s.Heartbeat && now-s.Heartbeat < age
}

// SetDNSSteering writes the steering configuration in one map update.
// An invalid ClusterIP or LocalIP turns steering off.
func (m *Maps) SetDNSSteering(s DNSSteering) error {
	if m.DNS == nil {
		return errors.New("the pinned dataplane has no node-local DNS map: restart the agent so it reloads the dataplane")
	}
	var v lbDnsCfg
	if s.ClusterIP.IsValid() || s.LocalIP.IsValid() {
		if !s.ClusterIP.Is4() || !s.LocalIP.Is4() {
			return fmt.Errorf("DNS steering %s -> %s: both addresses must be IPv4", s.ClusterIP, s.LocalIP)
		}
		v.ClusterIp, v.LocalIp = addrU32(s.ClusterIP), addrU32(s.LocalIP)
	}
	if s.Heartbeat < 0 || s.MaxAge < 0 {
		return fmt.Errorf("DNS steering heartbeat %s and max age %s must not be negative", s.Heartbeat, s.MaxAge)
	}
	v.HeartbeatNs, v.MaxAgeNs = uint64(s.Heartbeat), uint64(s.MaxAge)
	return wrap(m.DNS.Put(uint32(0), v), "DNS steering", s.ClusterIP)
}

// ReadDNSSteering reads the steering configuration back; addresses are
// invalid when steering was never configured.
func (m *Maps) ReadDNSSteering() (DNSSteering, error) {
	if m.DNS == nil {
		return DNSSteering{}, errors.New("the pinned dataplane has no node-local DNS map")
	}
	var v lbDnsCfg
	if err := m.DNS.Lookup(uint32(0), &v); err != nil {
		return DNSSteering{}, fmt.Errorf("read DNS steering: %w", err)
	}
	s := DNSSteering{Heartbeat: time.Duration(v.HeartbeatNs), MaxAge: time.Duration(v.MaxAgeNs)}
	if v.ClusterIp != 0 {
		s.ClusterIP = u32Addr(v.ClusterIp)
	}
	if v.LocalIp != 0 {
		s.LocalIP = u32Addr(v.LocalIp)
	}
	return s, nil
}

var dnsStatNames = map[lbDnsStat]string{
	lbDnsStatDNS_STAT_STEERED: "dns_steered", lbDnsStatDNS_STAT_REPLY: "dns_reply_rewritten",
	lbDnsStatDNS_STAT_FALLBACK: "dns_fallback_stale", lbDnsStatDNS_STAT_TCP_KEPT: "dns_tcp_kept_on_service",
	lbDnsStatDNS_STAT_DROP_REWRITE: "dns_drop_rewrite_failed",
}

// ReadDNSStats sums the per-CPU DNS steering counters (also part of
// ReadStats).
func (m *Maps) ReadDNSStats() (map[string]uint64, error) {
	if m.DNSStats == nil {
		return nil, errors.New("the pinned dataplane has no node-local DNS counters")
	}
	out := map[string]uint64{}
	for s := lbDnsStat(0); s < lbDnsStatDNS_STAT_MAX; s++ {
		var per []uint64
		if err := m.DNSStats.Lookup(uint32(s), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", dnsStatNames[s], err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[dnsStatNames[s]] = sum
	}
	return out, nil
}
