package dpbench

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"
)

// masqMark is the packet mark kube-proxy's layouts use to request SNAT.
const masqMark = "0x4000"

// chainHash returns 16 base32 characters derived from parts, the way
// kube-proxy names its per-service and per-endpoint chains.
func chainHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

func svcChain(s Service) string { return "KUBE-SVC-" + chainHash(s.Name, "tcp") }

func sepChain(s Service, ep netip.AddrPort) string {
	return "KUBE-SEP-" + chainHash(s.Name, "tcp", ep.String())
}

// IptablesConfig is what the kube-proxy iptables layout needs besides the
// services. ClusterCIDR is the pod range: traffic from outside it is marked
// for masquerade, as kube-proxy does without --masquerade-all.
type IptablesConfig struct {
	ClusterCIDR netip.Prefix
}

// probability is kube-proxy's choice weight for endpoint i of n: each rule
// takes 1/(remaining) of what the earlier rules left, so choices are uniform.
func probability(i, n int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n-i))
}

// GenIptables returns an iptables-restore input (filter and nat tables,
// without --noflush) holding svcs in kube-proxy's iptables-mode layout:
// KUBE-SERVICES → KUBE-SVC-* (statistic random) → KUBE-SEP-* (DNAT), with
// KUBE-MARK-MASQ/KUBE-POSTROUTING masquerade marks. Services appear in slice
// order, so the last service is matched after every other one.
func GenIptables(svcs []Service, cfg IptablesConfig) string {
	var b strings.Builder
	b.Grow(len(svcs) * 900)
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	b.WriteString(":KUBE-FORWARD - [0:0]\n")
	b.WriteString("-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n")
	b.WriteString("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n")
	fmt.Fprintf(&b, "-A KUBE-FORWARD -m mark --mark %s/%s -j ACCEPT\n", masqMark, masqMark)
	b.WriteString("-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
	b.WriteString("COMMIT\n")

	b.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	b.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
	for _, s := range svcs {
		fmt.Fprintf(&b, ":%s - [0:0]\n", svcChain(s))
		for _, ep := range s.Endpoints {
			fmt.Fprintf(&b, ":%s - [0:0]\n", sepChain(s, ep))
		}
	}
	b.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	b.WriteString("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
	fmt.Fprintf(&b, "-A KUBE-POSTROUTING -m mark ! --mark %s/%s -j RETURN\n", masqMark, masqMark)
	fmt.Fprintf(&b, "-A KUBE-POSTROUTING -j MARK --xor-mark %s\n", masqMark)
	b.WriteString("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n")
	fmt.Fprintf(&b, "-A KUBE-MARK-MASQ -j MARK --or-mark %s\n", masqMark)
	for _, s := range svcs {
		fmt.Fprintf(&b, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport %d -j %s\n",
			s.VIP, s.Name, s.Port, svcChain(s))
	}
	for _, s := range svcs {
		writeSvcRules(&b, s, cfg)
		for _, ep := range s.Endpoints {
			writeSepRules(&b, s, ep)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func writeSvcRules(b *strings.Builder, s Service, cfg IptablesConfig) {
	c := svcChain(s)
	fmt.Fprintf(b, "-A %s ! -s %s -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport %d -j KUBE-MARK-MASQ\n",
		c, cfg.ClusterCIDR, s.VIP, s.Name, s.Port)
	n := len(s.Endpoints)
	for i, ep := range s.Endpoints {
		if i < n-1 {
			fmt.Fprintf(b, "-A %s -m comment --comment \"%s -> %s\" -m statistic --mode random --probability %s -j %s\n",
				c, s.Name, ep, probability(i, n), sepChain(s, ep))
		} else {
			fmt.Fprintf(b, "-A %s -m comment --comment \"%s -> %s\" -j %s\n", c, s.Name, ep, sepChain(s, ep))
		}
	}
}

func writeSepRules(b *strings.Builder, s Service, ep netip.AddrPort) {
	c := sepChain(s, ep)
	fmt.Fprintf(b, "-A %s -m comment --comment \"%s\" -s %s/32 -j KUBE-MARK-MASQ\n", c, s.Name, ep.Addr())
	fmt.Fprintf(b, "-A %s -m comment --comment \"%s\" -p tcp -m tcp -j DNAT --to-destination %s\n", c, s.Name, ep)
}

// GenIptablesUpdate returns an iptables-restore --noflush input that moves
// service from's endpoints to to's (same name and VIP): the service chain is
// rewritten, new endpoint chains created and vanished ones deleted, in one
// commit — the partial sync kube-proxy does for one changed service.
func GenIptablesUpdate(from, to Service, cfg IptablesConfig) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n", svcChain(to))
	keep := map[netip.AddrPort]bool{}
	for _, ep := range to.Endpoints {
		keep[ep] = true
		fmt.Fprintf(&b, ":%s - [0:0]\n", sepChain(to, ep))
	}
	var gone []netip.AddrPort
	for _, ep := range from.Endpoints {
		if !keep[ep] {
			gone = append(gone, ep)
			fmt.Fprintf(&b, ":%s - [0:0]\n", sepChain(from, ep))
		}
	}
	writeSvcRules(&b, to, cfg)
	for _, ep := range to.Endpoints {
		writeSepRules(&b, to, ep)
	}
	for _, ep := range gone {
		fmt.Fprintf(&b, "-X %s\n", sepChain(from, ep))
	}
	b.WriteString("COMMIT\n")
	return b.String()
}
