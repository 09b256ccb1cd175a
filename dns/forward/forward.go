package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Forwarder queries upstream resolvers in turn.
type Forwarder struct {
	upstreams []string
	udp, tcp  *dns.Client
	next      atomic.Uint32
}

// ErrNoUpstream is returned when no upstream is configured.
var ErrNoUpstream = errors.New("no upstream resolvers configured: pass --upstream or list nameservers in /etc/resolv.conf")

// New returns a forwarder for upstreams ("host" or "host:port"; port 53 is
// assumed) with a per-try timeout.
func New(upstreams []string, timeout time.Duration) *Forwarder {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	f := &Forwarder{
		udp: &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232},
		tcp: &dns.Client{Net: "tcp", Timeout: timeout},
	}
	for _, u := range upstreams {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(strings.Trim(u, "[]"), "53")
		}
		f.upstreams = append(f.upstreams, u)
	}
	return f
}

// FromResolvConf reads nameservers from a resolv.conf file.
func FromResolvConf(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read upstreams from %s: %w (pass --upstream instead)", path, err)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// Upstreams returns the configured upstream addresses.
func (f *Forwarder) Upstreams() []string { return f.upstreams }

// Exchange asks the upstreams for q, starting with a rotating one, and
// returns the first answer. The query is a fresh message with RD set; the
// caller copies what it needs into its own reply.
func (f *Forwarder) Exchange(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, ErrNoUpstream
	}
	req := new(dns.Msg)
	req.Id = dns.Id()
	req.RecursionDesired = true
	req.Question = []dns.Question{q}
	req.SetEdns0(1232, false)
	start := int(f.next.Add(1))
	var errs []error
	for i := range f.upstreams {
		if ctx.Err() != nil {
			break
		}
		up := f.upstreams[(start+i)%len(f.upstreams)]
		resp, _, err := f.udp.ExchangeContext(ctx, req, up)
		if err == nil && resp.Truncated {
			resp, _, err = f.tcp.ExchangeContext(ctx, req, up)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", up, err))
			continue
		}
		return resp, nil
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return nil, errors.Join(errs...)
}
