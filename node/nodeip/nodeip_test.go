package nodeip

import (
	"net/netip"
	"strings"
	"testing"
)

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestChoose(t *testing.T) {
	lo := Iface{Index: 1, Name: "lo", Up: true, Kind: "device", Addrs: []netip.Prefix{p("127.0.0.1/8")}}
	nat := Iface{Index: 2, Name: "eth0", Up: true, Kind: "device", Addrs: []netip.Prefix{p("10.0.2.15/24")}}
	priv := Iface{Index: 3, Name: "eth1", Up: true, Kind: "device", Addrs: []netip.Prefix{p("192.168.56.11/24")}}
	veth := Iface{Index: 9, Name: "skp0123456789ab", Up: true, Kind: "veth", Addrs: []netip.Prefix{p("10.244.0.1/32")}}
	dns := Iface{Index: 10, Name: "skiffdns0", Up: true, Kind: "dummy", Addrs: []netip.Prefix{p("169.254.20.10/32")}}
	down := Iface{Index: 4, Name: "eth2", Up: false, Kind: "device", Addrs: []netip.Prefix{p("192.168.57.11/24")}}
	cases := []struct {
		name      string
		ifaces    []Iface
		defaultIf int
		want      string
		why       string
	}{
		{"vagrant: default route on the NAT interface", []Iface{lo, nat, priv, veth, dns, down}, 2, "192.168.56.11", "Vagrant NAT"},
		{"plain server: default route interface wins", []Iface{lo, {Index: 2, Name: "ens3", Up: true, Kind: "device", Addrs: []netip.Prefix{p("203.0.113.7/24")}}, priv}, 2, "203.0.113.7", "default route"},
		{"no default route: first usable interface", []Iface{lo, priv, {Index: 5, Name: "eth5", Up: true, Kind: "device", Addrs: []netip.Prefix{p("172.16.0.5/16")}}}, 0, "192.168.56.11", "first address of eth1"},
		{"container interfaces never count", []Iface{lo, veth, dns, {Index: 6, Name: "docker0", Up: true, Kind: "bridge", Addrs: []netip.Prefix{p("172.17.0.1/16")}}, priv}, 6, "192.168.56.11", "eth1"},
	}
	for _, c := range cases {
		got, why, err := Choose(c.ifaces, c.defaultIf)
		if err != nil || got.String() != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: got %v (%q, %v), want %s with %q", c.name, got, why, err, c.want, c.why)
		}
	}
	if _, _, err := Choose([]Iface{lo, nat, down}, 2); err == nil || !strings.Contains(err.Error(), "--node-ip") || !strings.Contains(err.Error(), "10.0.2.15") {
		t.Errorf("only a NAT address: err = %v, want an error naming 10.0.2.15 and --node-ip", err)
	}
}

// Detect runs against this machine: whatever it picks must be a global
// IPv4 address outside the VirtualBox NAT range, or a clear error.
func TestDetectOnThisMachine(t *testing.T) {
	a, why, err := Detect()
	if err != nil {
		if !strings.Contains(err.Error(), "--node-ip") {
			t.Fatalf("error without advice: %v", err)
		}
		return
	}
	if !a.Is4() || !a.IsGlobalUnicast() || vagrantNAT.Contains(a) || why == "" {
		t.Fatalf("Detect = %v (%s)", a, why)
	}
}
