package dpbench

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/skiffnet/skiff/internal/nstest"
)

// Router is the namespace a mode programs, with the interfaces packets
// arrive and leave on.
type Router struct {
	NS          *nstest.NS
	ClientIf    string   // faces the client
	BackendIfs  []string // one per backend namespace
	ClusterCIDR string   // traffic from outside is marked for masquerade
	Prefix      string   // the run's unique prefix, for pins and names
}

// Mode is one way of load-balancing services in a router namespace.
// Setup runs once per run; an error there marks the mode missing with that
// reason. Load programs services from empty and returns when they are in
// effect; Update moves one service's endpoints; Reset removes everything.
type Mode interface {
	Name() string
	Setup(ctx context.Context, r *Router) error
	Load(ctx context.Context, svcs []Service) error
	Update(ctx context.Context, from, to Service) error
	Reset(ctx context.Context) error
	Close() error
}

// runIn runs bin with args inside ns, feeding stdin, killed when ctx ends.
func runIn(ctx context.Context, ns *nstest.NS, stdin string, bin string, args ...string) error {
	full := append([]string{"netns", "exec", ns.Name, bin}, args...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		msg := string(out)
		if len(msg) > 600 {
			msg = msg[:600] + "…"
		}
		return fmt.Errorf("%s %s in %s: %v: %s", bin, strings.Join(args, " "), ns.Name, err, msg)
	}
	return nil
}

// iptablesMode is kube-proxy's iptables layout loaded with one of the two
// iptables backends' restore commands.
type iptablesMode struct {
	name    string
	restore string // iptables-legacy-restore or iptables-nft-restore
	r       *Router
	cfg     IptablesConfig
}

// NewIptablesMode returns the mode for restore binary bin
// ("iptables-legacy-restore" or "iptables-nft-restore").
func NewIptablesMode(name, bin string) Mode { return &iptablesMode{name: name, restore: bin} }

func (m *iptablesMode) Name() string { return m.name }

func (m *iptablesMode) Setup(ctx context.Context, r *Router) error {
	if _, err := exec.LookPath(m.restore); err != nil {
		return fmt.Errorf("%s not installed (run make deps): %w", m.restore, err)
	}
	m.r = r
	cfg, err := parseCfg(r)
	if err != nil {
		return err
	}
	m.cfg = cfg
	return m.Reset(ctx)
}

// emptyTables flushes filter and nat and deletes their user chains.
const emptyTables = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n" +
	"*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"

func (m *iptablesMode) Load(ctx context.Context, svcs []Service) error {
	return runIn(ctx, m.r.NS, GenIptables(svcs, m.cfg), m.restore, "-w", "5")
}

func (m *iptablesMode) Update(ctx context.Context, from, to Service) error {
	return runIn(ctx, m.r.NS, GenIptablesUpdate(from, to, m.cfg), m.restore, "-w", "5", "--noflush")
}

func (m *iptablesMode) Reset(ctx context.Context) error {
	return runIn(ctx, m.r.NS, emptyTables, m.restore, "-w", "5")
}

func (m *iptablesMode) Close() error { return nil }

// nftMode is kube-proxy's nftables layout loaded with `nft -f`.
type nftMode struct {
	r   *Router
	cfg IptablesConfig
}

// NewNftMode returns the nftables mode.
func NewNftMode() Mode { return &nftMode{} }

func (m *nftMode) Name() string { return "nftables" }

func (m *nftMode) Setup(ctx context.Context, r *Router) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("nft not installed (run make deps): %w", err)
	}
	m.r = r
	cfg, err := parseCfg(r)
	if err != nil {
		return err
	}
	m.cfg = cfg
	return m.Reset(ctx)
}

func (m *nftMode) Load(ctx context.Context, svcs []Service) error {
	return runIn(ctx, m.r.NS, GenNft(svcs, m.cfg), "nft", "-f", "-")
}

func (m *nftMode) Update(ctx context.Context, from, to Service) error {
	return runIn(ctx, m.r.NS, GenNftUpdate(from, to, m.cfg), "nft", "-f", "-")
}

func (m *nftMode) Reset(ctx context.Context) error {
	// "add" then "delete" so that a missing table is not an error.
	return runIn(ctx, m.r.NS, "add table ip "+NftTable+"\ndelete table ip "+NftTable+"\n", "nft", "-f", "-")
}

func (m *nftMode) Close() error { return nil }

func parseCfg(r *Router) (IptablesConfig, error) {
	var cfg IptablesConfig
	p, err := netip.ParsePrefix(r.ClusterCIDR)
	if err != nil {
		return cfg, fmt.Errorf("cluster CIDR %q: %w", r.ClusterCIDR, err)
	}
	cfg.ClusterCIDR = p
	return cfg, nil
}
