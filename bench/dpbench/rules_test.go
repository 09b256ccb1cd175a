package dpbench

import (
	"math"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/internal/nstest"
)

var testCfg = IptablesConfig{ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16")}

func testServices(t *testing.T, n int) []Service {
	t.Helper()
	real := []netip.Addr{backendAddr(0), backendAddr(1), backendAddr(2)}
	svcs, err := BuildServices(n, vipBase(2), real)
	if err != nil {
		t.Fatal(err)
	}
	return svcs
}

func TestBuildServices(t *testing.T) {
	svcs := testServices(t, 5)
	if len(svcs) != 5 {
		t.Fatalf("got %d services", len(svcs))
	}
	seen := map[netip.Addr]bool{}
	for _, s := range svcs {
		if seen[s.VIP] || !netip.MustParsePrefix(vipRange(2)).Contains(s.VIP) {
			t.Fatalf("VIP %s repeated or outside %s", s.VIP, vipRange(2))
		}
		seen[s.VIP] = true
		if len(s.Endpoints) != 3 {
			t.Fatalf("%s has %d endpoints", s.Name, len(s.Endpoints))
		}
	}
	if got := svcs[4].Endpoints[0].Addr(); got != backendAddr(0) {
		t.Fatalf("benchmarked (last) service's first endpoint %s, want the real backend %s", got, backendAddr(0))
	}
	if _, err := BuildServices(0, vipBase(1), nil); err == nil {
		t.Fatal("0 services accepted")
	}
	if _, err := BuildServices(MaxServices+1, vipBase(1), []netip.Addr{backendAddr(0)}); err == nil {
		t.Fatal("too many services accepted")
	}
}

func TestGenIptablesStructure(t *testing.T) {
	const n = 50
	svcs := testServices(t, n)
	rules := GenIptables(svcs, testCfg)
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(rules, -1)) }
	if got := count(`(?m)^:KUBE-SVC-[A-Z2-7]{16} `); got != n {
		t.Errorf("%d KUBE-SVC chains, want %d", got, n)
	}
	if got := count(`(?m)^:KUBE-SEP-[A-Z2-7]{16} `); got != 3*n {
		t.Errorf("%d KUBE-SEP chains, want %d", got, 3*n)
	}
	if got := count(`(?m)^-A KUBE-SERVICES .*-j KUBE-SVC-`); got != n {
		t.Errorf("%d KUBE-SERVICES jumps, want %d", got, n)
	}
	if got := count(`(?m)^-A KUBE-SEP-\S+ .*-j DNAT --to-destination `); got != 3*n {
		t.Errorf("%d DNAT rules, want %d", got, 3*n)
	}
	if got := count(`(?m)^COMMIT$`); got != 2 {
		t.Errorf("%d COMMITs, want 2 (filter and nat)", got)
	}
	for _, want := range []string{"-j MASQUERADE", "-j MARK --or-mark 0x4000", "-A PREROUTING", "-j KUBE-POSTROUTING"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q", want)
		}
	}
	// The benchmarked service is matched last.
	jumps := regexp.MustCompile(`(?m)^-A KUBE-SERVICES -d (\S+)/32`).FindAllStringSubmatch(rules, -1)
	if jumps[len(jumps)-1][1] != svcs[n-1].VIP.String() {
		t.Errorf("last KUBE-SERVICES rule is for %s, want the benchmarked %s", jumps[len(jumps)-1][1], svcs[n-1].VIP)
	}
	// Every service chain's statistic choices are uniform: each endpoint is
	// chosen with probability 1/3 overall.
	for _, s := range svcs {
		c := svcChain(s)
		var probs []float64
		for _, line := range strings.Split(rules, "\n") {
			if !strings.HasPrefix(line, "-A "+c+" ") || !strings.Contains(line, "KUBE-SEP-") {
				continue
			}
			p := 1.0
			if m := regexp.MustCompile(`--probability (\S+)`).FindStringSubmatch(line); m != nil {
				p, _ = strconv.ParseFloat(m[1], 64)
			}
			probs = append(probs, p)
		}
		if len(probs) != 3 || probs[2] != 1 {
			t.Fatalf("%s: choice probabilities %v, want 3 with the last unconditional", c, probs)
		}
		left, total := 1.0, 0.0
		for _, p := range probs {
			share := left * p
			if math.Abs(share-1.0/3) > 1e-6 {
				t.Fatalf("%s: endpoint share %v, want 1/3 (probabilities %v)", c, share, probs)
			}
			total += share
			left -= share
		}
		if math.Abs(total-1) > 1e-6 {
			t.Fatalf("%s: shares sum to %v", c, total)
		}
	}
}

func TestGenIptablesUpdate(t *testing.T) {
	svcs := testServices(t, 3)
	from := svcs[2]
	to := from
	to.Endpoints = append([]netip.AddrPort(nil), from.Endpoints...)
	to.Endpoints[2] = netip.AddrPortFrom(backendAddr(3), TargetPort)
	u := GenIptablesUpdate(from, to, testCfg)
	if !strings.HasPrefix(u, "*nat\n") || !strings.HasSuffix(u, "COMMIT\n") {
		t.Fatalf("update is not one nat commit:\n%s", u)
	}
	if !strings.Contains(u, "-X "+sepChain(from, from.Endpoints[2])) {
		t.Error("the removed endpoint's chain is not deleted")
	}
	if !strings.Contains(u, "--to-destination "+to.Endpoints[2].String()) {
		t.Error("the new endpoint has no DNAT rule")
	}
	if strings.Contains(u, "KUBE-SERVICES") {
		t.Error("a one-service update must not touch KUBE-SERVICES")
	}
}

func TestGenNftStructure(t *testing.T) {
	const n = 40
	svcs := testServices(t, n)
	rules := GenNft(svcs, testCfg)
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(rules, -1)) }
	if got := count(`(?m)^add chain ip kube-proxy service-`); got != n {
		t.Errorf("%d service chains, want %d", got, n)
	}
	if got := count(`(?m)^add chain ip kube-proxy endpoint-`); got != 3*n {
		t.Errorf("%d endpoint chains, want %d", got, 3*n)
	}
	if got := count(`numgen random mod 3 vmap \{ 0 : goto endpoint-\S+, 1 : goto endpoint-\S+, 2 : goto endpoint-\S+ \}`); got != n {
		t.Errorf("%d numgen choices over 3 endpoints, want %d", got, n)
	}
	if got := count(` : goto service-`); got != n {
		t.Errorf("%d service-ips elements, want %d", got, n)
	}
	if got := count(`dnat to `); got != 3*n {
		t.Errorf("%d dnat rules, want %d", got, 3*n)
	}
	// Chains are declared before anything refers to them.
	firstRule := strings.Index(rules, "add rule ")
	lastChain := strings.LastIndex(rules, "add chain ")
	if lastChain > firstRule || strings.Index(rules, "add element") < firstRule {
		t.Error("chains must be declared before rules, and map elements come last")
	}
}

func TestPrivilegedRulesParse(t *testing.T) {
	nstest.RequirePrivileged(t)
	tp := nstest.New(t)
	ns, err := tp.NS("rules")
	if err != nil {
		t.Fatal(err)
	}
	svcs := testServices(t, 20)
	from := svcs[19]
	to := from
	to.Endpoints = append([]netip.AddrPort(nil), from.Endpoints...)
	to.Endpoints[2] = netip.AddrPortFrom(backendAddr(3), TargetPort)
	ctx := t.Context()
	for _, bin := range []string{"iptables-legacy-restore", "iptables-nft-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s missing: run make deps", bin)
		}
		if err := runIn(ctx, ns, GenIptables(svcs, testCfg), bin, "--test"); err != nil {
			t.Errorf("%s rejects the full ruleset: %v", bin, err)
		}
		// The update applies on top of the loaded rules.
		if err := runIn(ctx, ns, GenIptables(svcs, testCfg), bin); err != nil {
			t.Fatalf("%s load: %v", bin, err)
		}
		if err := runIn(ctx, ns, GenIptablesUpdate(from, to, testCfg), bin, "--noflush"); err != nil {
			t.Errorf("%s rejects the endpoint update: %v", bin, err)
		}
		if err := runIn(ctx, ns, emptyTables, bin); err != nil {
			t.Errorf("%s reset: %v", bin, err)
		}
	}
	if err := runIn(ctx, ns, GenNft(svcs, testCfg), "nft", "-c", "-f", "-"); err != nil {
		t.Errorf("nft -c rejects the ruleset: %v", err)
	}
	if err := runIn(ctx, ns, GenNft(svcs, testCfg), "nft", "-f", "-"); err != nil {
		t.Fatalf("nft load: %v", err)
	}
	if err := runIn(ctx, ns, GenNftUpdate(from, to, testCfg), "nft", "-f", "-"); err != nil {
		t.Errorf("nft rejects the endpoint update: %v", err)
	}
}
