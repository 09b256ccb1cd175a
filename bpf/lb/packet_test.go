package lb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// A tiny IPv4 packet builder and checker for the BPF_PROG_TEST_RUN tables.

type pkt struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	tcpFlags     uint8
	seq, ack     uint32
	payload      []byte
}

const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fACK = 0x10
)

var (
	macA = []byte{2, 0, 0, 0, 0, 0xa}
	macB = []byte{2, 0, 0, 0, 0, 0xb}
)

func csum(b []byte, init uint32) uint16 {
	s := init
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func pseudo(src, dst netip.Addr, proto uint8, n int) uint32 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	for _, b := range [][]byte{s[:], d[:]} {
		sum += uint32(b[0])<<8 | uint32(b[1])
		sum += uint32(b[2])<<8 | uint32(b[3])
	}
	return sum + uint32(proto) + uint32(n)
}

func ipHeader(src, dst netip.Addr, proto uint8, l4len int) []byte {
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+l4len))
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	ip[8] = 64
	ip[9] = proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], csum(ip, 0))
	return ip
}

func (p pkt) l4() []byte {
	var l4 []byte
	if p.proto == ProtoTCP {
		l4 = make([]byte, 20+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint32(l4[4:], p.seq)
		binary.BigEndian.PutUint32(l4[8:], p.ack)
		l4[12] = 5 << 4
		l4[13] = p.tcpFlags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], p.payload)
		binary.BigEndian.PutUint16(l4[16:], csum(l4, pseudo(p.src, p.dst, p.proto, len(l4))))
	} else {
		l4 = make([]byte, 8+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], p.payload)
		binary.BigEndian.PutUint16(l4[6:], csum(l4, pseudo(p.src, p.dst, p.proto, len(l4))))
	}
	return l4
}

func ether(payload []byte) []byte {
	b := append(append(append([]byte{}, macB...), macA...), 0x08, 0x00)
	return append(b, payload...)
}

func (p pkt) bytes() []byte {
	l4 := p.l4()
	return ether(append(ipHeader(p.src, p.dst, p.proto, len(l4)), l4...))
}

// icmpError wraps the first 28 bytes of quoted (an IPv4 packet without
// Ethernet) in an ICMP error from src to dst.
func icmpError(src, dst netip.Addr, typ, code uint8, quoted []byte) []byte {
	body := make([]byte, 8, 8+28)
	body[0], body[1] = typ, code
	if typ == 3 && code == 4 {
		binary.BigEndian.PutUint16(body[6:], 1400)
	}
	body = append(body, quoted[:28]...)
	binary.BigEndian.PutUint16(body[2:], csum(body, 0))
	return ether(append(ipHeader(src, dst, 1, len(body)), body...))
}

// parsed is a packet read back after the program ran.
type parsed struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	tcpFlags     uint8
	seq, ack     uint32
	icmpType     uint8
	icmpCode     uint8
	inner        *parsed // quoted packet of an ICMP error
}

func addr(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// parse checks every checksum and decodes b (with Ethernet header).
func parse(b []byte) (*parsed, error) {
	if len(b) < 34 || b[12] != 8 || b[13] != 0 {
		return nil, fmt.Errorf("not IPv4 over Ethernet: % x", b)
	}
	return parseIP(b[14:], false)
}

func parseIP(ip []byte, quoted bool) (*parsed, error) {
	ihl := int(ip[0]&0xf) * 4
	if csum(ip[:ihl], 0) != 0 {
		return nil, fmt.Errorf("bad IP header checksum in % x", ip[:ihl])
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if !quoted {
		if tot != len(ip) {
			return nil, fmt.Errorf("IP total length %d but %d bytes", tot, len(ip))
		}
	}
	p := &parsed{src: addr(ip[12:]), dst: addr(ip[16:]), proto: ip[9]}
	l4 := ip[ihl:]
	if quoted {
		p.sport = binary.BigEndian.Uint16(l4[0:])
		p.dport = binary.BigEndian.Uint16(l4[2:])
		return p, nil
	}
	switch p.proto {
	case ProtoTCP, ProtoUDP:
		if !(p.proto == ProtoUDP && l4[6] == 0 && l4[7] == 0) {
			if c := csum(l4, pseudo(p.src, p.dst, p.proto, len(l4))); c != 0 {
				return nil, fmt.Errorf("bad %s checksum (residue %#x)", ProtoName(p.proto), c)
			}
		}
		p.sport = binary.BigEndian.Uint16(l4[0:])
		p.dport = binary.BigEndian.Uint16(l4[2:])
		if p.proto == ProtoTCP {
			p.seq = binary.BigEndian.Uint32(l4[4:])
			p.ack = binary.BigEndian.Uint32(l4[8:])
			p.tcpFlags = l4[13]
		}
	case 1:
		if csum(l4, 0) != 0 {
			return nil, fmt.Errorf("bad ICMP checksum")
		}
		p.icmpType, p.icmpCode = l4[0], l4[1]
		if p.icmpType == 3 || p.icmpType == 11 {
			in, err := parseIP(l4[8:], true)
			if err != nil {
				return nil, fmt.Errorf("quoted packet: %w", err)
			}
			p.inner = in
		}
	}
	return p, nil
}
