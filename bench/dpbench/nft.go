package dpbench

import (
	"fmt"
	"net/netip"
	"strings"
)

// NftTable is the table the nftables layout lives in.
const NftTable = "kube-proxy"

func nftSvcChain(s Service) string {
	return "service-" + chainHash(s.Name, "tcp")[:8] + "-" + strings.NewReplacer("/", "-", ":", "-").Replace(s.Name) + "-tcp"
}

func nftEpChain(s Service, ep netip.AddrPort) string {
	return "endpoint-" + chainHash(s.Name, "tcp", ep.String())[:8] + "-" + ep.Addr().String() + "-tcp-" + fmt.Sprint(ep.Port())
}

// GenNft returns an `nft -f` input holding svcs in kube-proxy's
// nftables-mode layout: a service-ips verdict map keyed by
// address . protocol . port jumps to one chain per service, which marks
// outside traffic for masquerade and picks an endpoint chain with
// `numgen random mod N vmap`; each endpoint chain DNATs. The table is
// created if absent; callers delete it to start from empty.
func GenNft(svcs []Service, cfg IptablesConfig) string {
	var b strings.Builder
	b.Grow(len(svcs) * 900)
	t := "ip " + NftTable
	fmt.Fprintf(&b, "add table %s\n", t)
	fmt.Fprintf(&b, "add chain %s nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }\n", t)
	fmt.Fprintf(&b, "add chain %s nat-output { type nat hook output priority -100; policy accept; }\n", t)
	fmt.Fprintf(&b, "add chain %s nat-postrouting { type nat hook postrouting priority srcnat; policy accept; }\n", t)
	fmt.Fprintf(&b, "add chain %s filter-forward { type filter hook forward priority -110; policy accept; }\n", t)
	fmt.Fprintf(&b, "add chain %s mark-for-masquerade\n", t)
	fmt.Fprintf(&b, "add chain %s masquerading\n", t)
	fmt.Fprintf(&b, "add chain %s services\n", t)
	fmt.Fprintf(&b, "add map %s service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n", t)
	for _, s := range svcs {
		fmt.Fprintf(&b, "add chain %s %s\n", t, nftSvcChain(s))
		for _, ep := range s.Endpoints {
			fmt.Fprintf(&b, "add chain %s %s\n", t, nftEpChain(s, ep))
		}
	}
	fmt.Fprintf(&b, "add rule %s nat-prerouting jump services\n", t)
	fmt.Fprintf(&b, "add rule %s nat-output jump services\n", t)
	fmt.Fprintf(&b, "add rule %s nat-postrouting jump masquerading\n", t)
	fmt.Fprintf(&b, "add rule %s filter-forward ct state invalid drop\n", t)
	fmt.Fprintf(&b, "add rule %s mark-for-masquerade meta mark set meta mark or %s\n", t, masqMark)
	fmt.Fprintf(&b, "add rule %s masquerading meta mark & %s == 0 return\n", t, masqMark)
	fmt.Fprintf(&b, "add rule %s masquerading meta mark set meta mark xor %s\n", t, masqMark)
	fmt.Fprintf(&b, "add rule %s masquerading masquerade fully-random\n", t)
	fmt.Fprintf(&b, "add rule %s services ip daddr . meta l4proto . th dport vmap @service-ips\n", t)
	for _, s := range svcs {
		writeNftSvc(&b, s, cfg)
		for _, ep := range s.Endpoints {
			writeNftEp(&b, s, ep)
		}
	}
	// Map elements last, in batches, so every target chain already exists.
	const batch = 1000
	for i := 0; i < len(svcs); i += batch {
		j := min(i+batch, len(svcs))
		fmt.Fprintf(&b, "add element %s service-ips { ", t)
		for k, s := range svcs[i:j] {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s . tcp . %d : goto %s", s.VIP, s.Port, nftSvcChain(s))
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

func writeNftSvc(b *strings.Builder, s Service, cfg IptablesConfig) {
	t := "ip " + NftTable
	c := nftSvcChain(s)
	fmt.Fprintf(b, "add rule %s %s ip daddr %s tcp dport %d ip saddr != %s jump mark-for-masquerade\n", t, c, s.VIP, s.Port, cfg.ClusterCIDR)
	if len(s.Endpoints) == 0 {
		return
	}
	fmt.Fprintf(b, "add rule %s %s numgen random mod %d vmap { ", t, c, len(s.Endpoints))
	for i, ep := range s.Endpoints {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(b, "%d : goto %s", i, nftEpChain(s, ep))
	}
	b.WriteString(" }\n")
}

func writeNftEp(b *strings.Builder, s Service, ep netip.AddrPort) {
	t := "ip " + NftTable
	c := nftEpChain(s, ep)
	fmt.Fprintf(b, "add rule %s %s ip saddr %s jump mark-for-masquerade\n", t, c, ep.Addr())
	fmt.Fprintf(b, "add rule %s %s meta l4proto tcp dnat to %s\n", t, c, ep)
}

// GenNftUpdate returns an `nft -f` transaction moving service from's
// endpoints to to's: new endpoint chains first, then the service chain
// flushed and refilled, then vanished endpoint chains deleted.
func GenNftUpdate(from, to Service, cfg IptablesConfig) string {
	var b strings.Builder
	t := "ip " + NftTable
	have := map[netip.AddrPort]bool{}
	for _, ep := range from.Endpoints {
		have[ep] = true
	}
	keep := map[netip.AddrPort]bool{}
	for _, ep := range to.Endpoints {
		keep[ep] = true
		if !have[ep] {
			fmt.Fprintf(&b, "add chain %s %s\n", t, nftEpChain(to, ep))
			writeNftEp(&b, to, ep)
		}
	}
	fmt.Fprintf(&b, "flush chain %s %s\n", t, nftSvcChain(to))
	writeNftSvc(&b, to, cfg)
	for _, ep := range from.Endpoints {
		if !keep[ep] {
			fmt.Fprintf(&b, "delete chain %s %s\n", t, nftEpChain(from, ep))
		}
	}
	return b.String()
}
