package services

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Proto is an IP protocol number.
type Proto uint8

// Protocols Skiff balances.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// Algorithm chooses a backend for a new flow.
type Algorithm uint8

// Backend selection algorithms.
const (
	Random Algorithm = iota // uniform random choice (the default)
	Maglev                  // Maglev consistent hashing of the 5-tuple
)

// Backend is one endpoint.
type Backend struct {
	Addr netip.Addr
	Port uint16
}

func (b Backend) String() string { return netip.AddrPortFrom(b.Addr, b.Port).String() }

// Service is one frontend (VIP, port, protocol) with its backends.
type Service struct {
	VIP      netip.Addr
	Port     uint16
	Protocol Proto
	Backends []Backend
	// Affinity > 0 enables sessionAffinity ClientIP with that timeout
	// (whole seconds; Kubernetes' default is 10800 s).
	Affinity  time.Duration
	Algorithm Algorithm
}

// Key identifies a service frontend.
type Key struct {
	VIP      netip.Addr
	Port     uint16
	Protocol Proto
}

func (k Key) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.VIP, k.Port), k.Protocol)
}

// Key returns the service's frontend key.
func (s Service) Key() Key { return Key{VIP: s.VIP, Port: s.Port, Protocol: s.Protocol} }

// MaxBackends is the most backends a service may have.
const MaxBackends = 65535

// Validate reports what is wrong with s, if anything.
func (s Service) Validate() error {
	var errs []error
	if !s.VIP.Is4() || s.VIP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("VIP %v must be a non-zero IPv4 address", s.VIP))
	}
	if s.Port == 0 {
		errs = append(errs, errors.New("port must be 1-65535"))
	}
	if s.Protocol != TCP && s.Protocol != UDP {
		errs = append(errs, fmt.Errorf("protocol %v must be TCP or UDP", s.Protocol))
	}
	if s.Algorithm != Random && s.Algorithm != Maglev {
		errs = append(errs, fmt.Errorf("algorithm %d must be Random or Maglev", s.Algorithm))
	}
	if s.Affinity < 0 || s.Affinity > time.Duration(1<<32-1)*time.Second || (s.Affinity > 0 && s.Affinity < time.Second) {
		errs = append(errs, fmt.Errorf("affinity timeout %s must be 0 or 1 s to 4294967295 s", s.Affinity))
	}
	if len(s.Backends) > MaxBackends {
		errs = append(errs, fmt.Errorf("%d backends, at most %d", len(s.Backends), MaxBackends))
	}
	for _, b := range s.Backends {
		if !b.Addr.Is4() || b.Addr.IsUnspecified() || b.Port == 0 {
			errs = append(errs, fmt.Errorf("backend %s must have a non-zero IPv4 address and port", b))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("service %s: %w", s.Key(), errors.Join(errs...))
	}
	return nil
}

// normalized returns the backend set sorted and without duplicates, which
// fixes the slot order (and so the write pattern) for equal sets.
func normalized(bs []Backend) []Backend {
	out := slices.Clone(bs)
	slices.SortFunc(out, func(a, b Backend) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return slices.Compact(out)
}
