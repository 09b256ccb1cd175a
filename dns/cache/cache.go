package cache

import (
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Config bounds the cache. Zero fields take the defaults noted.
type Config struct {
	MaxEntries  int           // default 10000
	MaxTTL      time.Duration // default 1h
	MaxNegTTL   time.Duration // default 30m
	NoSOATTL    time.Duration // negative answers without SOA; default 5s
	StaleWindow time.Duration // how long expired entries may be served; default 1h
	StaleTTL    uint32        // TTL on stale answers; default 30
}

type item struct {
	msg    *dns.Msg
	stored time.Time
	expire time.Time
}

const shards = 16

type shard struct {
	mu sync.Mutex
	m  map[string]*item
}

// Cache is a sharded response cache, safe for concurrent use.
type Cache struct {
	cfg    Config
	shards [shards]shard
	now    func() time.Time
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = time.Hour
	}
	if cfg.MaxNegTTL <= 0 {
		cfg.MaxNegTTL = 30 * time.Minute
	}
	if cfg.NoSOATTL <= 0 {
		cfg.NoSOATTL = 5 * time.Second
	}
	if cfg.StaleWindow <= 0 {
		cfg.StaleWindow = time.Hour
	}
	if cfg.StaleTTL == 0 {
		cfg.StaleTTL = 30
	}
	c := &Cache{cfg: cfg, now: time.Now}
	for i := range c.shards {
		c.shards[i].m = map[string]*item{}
	}
	return c
}

// SetClock replaces the clock; for tests.
func (c *Cache) SetClock(now func() time.Time) { c.now = now }

// Key builds the cache key for a question.
func Key(q dns.Question) string {
	var b strings.Builder
	b.Grow(len(q.Name) + 5)
	b.WriteByte(byte(q.Qtype >> 8))
	b.WriteByte(byte(q.Qtype))
	b.WriteByte(byte(q.Qclass >> 8))
	b.WriteByte(byte(q.Qclass))
	b.WriteString(strings.ToLower(q.Name))
	return b.String()
}

func (c *Cache) shard(k string) *shard {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return &c.shards[h%shards]
}

// Put stores a response for its question. Responses that are neither
// NOERROR nor NXDOMAIN, truncated ones, and those with zero TTL are not kept.
func (c *Cache) Put(m *dns.Msg) {
	if m == nil || len(m.Question) != 1 || m.Truncated {
		return
	}
	ttl, ok := c.lifetime(m)
	if !ok || ttl <= 0 {
		return
	}
	keep := new(dns.Msg)
	keep.Question = m.Question
	keep.Rcode = m.Rcode
	keep.Authoritative = m.Authoritative
	keep.AuthenticatedData = m.AuthenticatedData
	keep.Answer = m.Answer
	keep.Ns = m.Ns
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			keep.Extra = append(keep.Extra, rr)
		}
	}
	now := c.now()
	k := Key(m.Question[0])
	s := c.shard(k)
	s.mu.Lock()
	if _, exists := s.m[k]; !exists && len(s.m) >= c.cfg.MaxEntries/shards+1 {
		c.evict(s, now)
	}
	s.m[k] = &item{msg: keep, stored: now, expire: now.Add(ttl)}
	s.mu.Unlock()
}

// evict drops entries past their stale window; if none, one arbitrary
// entry. Callers hold s.mu.
func (c *Cache) evict(s *shard, now time.Time) {
	dropped := false
	for k, it := range s.m {
		if now.After(it.expire.Add(c.cfg.StaleWindow)) {
			delete(s.m, k)
			dropped = true
		}
	}
	if dropped {
		return
	}
	for k := range s.m { // map order is random: a cheap random eviction
		delete(s.m, k)
		return
	}
}

func (c *Cache) lifetime(m *dns.Msg) (time.Duration, bool) {
	switch {
	case m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0):
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				t := min(soa.Minttl, soa.Hdr.Ttl)
				return min(time.Duration(t)*time.Second, c.cfg.MaxNegTTL), true
			}
		}
		return c.cfg.NoSOATTL, true
	case m.Rcode == dns.RcodeSuccess:
		t := uint32(1<<31 - 1)
		for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
			for _, rr := range sec {
				t = min(t, rr.Header().Ttl)
			}
		}
		return min(time.Duration(t)*time.Second, c.cfg.MaxTTL), true
	}
	return 0, false
}

// Get returns a fresh copy of the cached response with TTLs reduced by its
// age, and whether it was found unexpired.
func (c *Cache) Get(q dns.Question) (*dns.Msg, bool) {
	return c.get(q, false)
}

// GetStale returns an expired entry still inside the stale window, with its
// TTLs set to the stale TTL.
func (c *Cache) GetStale(q dns.Question) (*dns.Msg, bool) {
	return c.get(q, true)
}

func (c *Cache) get(q dns.Question, stale bool) (*dns.Msg, bool) {
	k := Key(q)
	s := c.shard(k)
	now := c.now()
	s.mu.Lock()
	it := s.m[k]
	s.mu.Unlock()
	if it == nil {
		return nil, false
	}
	fresh := now.Before(it.expire)
	if !stale && !fresh {
		return nil, false
	}
	if stale && now.After(it.expire.Add(c.cfg.StaleWindow)) {
		return nil, false
	}
	age := uint32(now.Sub(it.stored) / time.Second)
	out := new(dns.Msg)
	out.Question = []dns.Question{q}
	out.Rcode = it.msg.Rcode
	out.AuthenticatedData = it.msg.AuthenticatedData
	out.Answer = ageRRs(it.msg.Answer, age, stale, c.cfg.StaleTTL)
	out.Ns = ageRRs(it.msg.Ns, age, stale, c.cfg.StaleTTL)
	out.Extra = ageRRs(it.msg.Extra, age, stale, c.cfg.StaleTTL)
	return out, true
}

func ageRRs(in []dns.RR, age uint32, stale bool, staleTTL uint32) []dns.RR {
	if len(in) == 0 {
		return nil
	}
	out := make([]dns.RR, len(in))
	for i, rr := range in {
		cp := dns.Copy(rr)
		h := cp.Header()
		switch {
		case stale:
			h.Ttl = staleTTL
		case h.Ttl > age:
			h.Ttl -= age
		default:
			h.Ttl = 0
		}
		out[i] = cp
	}
	return out
}

// Len returns the number of entries, stale ones included.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
