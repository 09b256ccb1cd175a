package records

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// epRec is one ready endpoint address with the DNS label it answers under
// (its hostname, or its address with dashes) and the ports of its slice.
type epRec struct {
	label string
	addr  netip.Addr
	ports []Port
}

// entry holds one service and the slices that point at it. A slice can arrive
// before its service, so svc may be nil.
type entry struct {
	svc    *Service
	slices map[string]*EndpointSlice
	eps    []epRec
	ptrs   []ptrRec
}

type ptrRec struct {
	addr netip.Addr
	name string // relative to the zone, e.g. "web.default.svc"
}

// Index is the record store. It is safe for concurrent use: Sink methods
// write, Resolve reads.
type Index struct {
	zone string // lower-case FQDN, e.g. "cluster.local."
	ttl  uint32

	mu         sync.RWMutex
	services   map[string]*entry // "ns/name"
	sliceOwner map[string]string // "ns/slice" -> "ns/service"
	namespaces map[string]int    // services per namespace
	ptr        map[netip.Addr][]string

	synced atomic.Bool
	serial atomic.Uint32
}

// New returns an empty index for zone (for example "cluster.local") whose
// answers carry ttl seconds.
func New(zone string, ttl uint32) *Index {
	z := strings.ToLower(strings.TrimSuffix(zone, ".")) + "."
	ix := &Index{
		zone:       z,
		ttl:        ttl,
		services:   map[string]*entry{},
		sliceOwner: map[string]string{},
		namespaces: map[string]int{},
		ptr:        map[netip.Addr][]string{},
	}
	ix.serial.Store(uint32(time.Now().Unix()))
	return ix
}

// Zone returns the cluster zone as a lower-case FQDN.
func (ix *Index) Zone() string { return ix.zone }

// Synced reports whether the source finished its first listing.
func (ix *Index) Synced() bool { return ix.synced.Load() }

// MarkSynced implements Sink.
func (ix *Index) MarkSynced() { ix.synced.Store(true) }

// Len returns the number of services in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := 0
	for _, e := range ix.services {
		if e.svc != nil {
			n++
		}
	}
	return n
}

func key(ns, name string) string { return ns + "/" + name }

// SetService implements Sink.
func (ix *Index) SetService(s *Service) {
	k := key(s.Namespace, s.Name)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.services[k]
	if e == nil {
		e = &entry{}
		ix.services[k] = e
	}
	if e.svc == nil {
		ix.namespaces[s.Namespace]++
	}
	e.svc = s
	ix.rebuild(e)
}

// DeleteService implements Sink.
func (ix *Index) DeleteService(ns, name string) {
	k := key(ns, name)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	e := ix.services[k]
	if e == nil || e.svc == nil {
		return
	}
	e.svc = nil
	if ix.namespaces[ns]--; ix.namespaces[ns] <= 0 {
		delete(ix.namespaces, ns)
	}
	ix.rebuild(e)
	if len(e.slices) == 0 {
		delete(ix.services, k)
	}
}

// SetSlice implements Sink.
func (ix *Index) SetSlice(sl *EndpointSlice) {
	sk := key(sl.Namespace, sl.Name)
	owner := key(sl.Namespace, sl.Service)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.sliceOwner[sk]; ok && old != owner {
		ix.removeSlice(sk, old)
	}
	if sl.Service == "" {
		delete(ix.sliceOwner, sk)
		return
	}
	e := ix.services[owner]
	if e == nil {
		e = &entry{}
		ix.services[owner] = e
	}
	if e.slices == nil {
		e.slices = map[string]*EndpointSlice{}
	}
	e.slices[sl.Name] = sl
	ix.sliceOwner[sk] = owner
	ix.rebuild(e)
}

// DeleteSlice implements Sink.
func (ix *Index) DeleteSlice(ns, name string) {
	sk := key(ns, name)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if owner, ok := ix.sliceOwner[sk]; ok {
		ix.removeSlice(sk, owner)
	}
}

func (ix *Index) removeSlice(sk, owner string) {
	delete(ix.sliceOwner, sk)
	e := ix.services[owner]
	if e == nil {
		return
	}
	delete(e.slices, sk[strings.IndexByte(sk, '/')+1:])
	ix.rebuild(e)
	if e.svc == nil && len(e.slices) == 0 {
		delete(ix.services, owner)
	}
}

// rebuild recomputes an entry's derived endpoint list and PTR records.
// Callers hold ix.mu for writing.
func (ix *Index) rebuild(e *entry) {
	for _, p := range e.ptrs {
		ix.dropPTR(p.addr, p.name)
	}
	e.ptrs = e.ptrs[:0]
	e.eps = e.eps[:0]
	ix.serial.Store(uint32(time.Now().Unix()))
	if e.svc == nil {
		e.ptrs, e.eps = nil, nil
		return
	}
	base := e.svc.Name + "." + e.svc.Namespace + ".svc"
	for _, ip := range e.svc.ClusterIPs {
		e.ptrs = append(e.ptrs, ptrRec{ip, base})
	}
	seen := map[netip.Addr]bool{}
	for _, sl := range e.slices {
		for _, ep := range sl.Endpoints {
			if !ep.Ready {
				continue
			}
			for _, a := range ep.Addrs {
				if seen[a] {
					continue
				}
				seen[a] = true
				label := strings.ToLower(ep.Hostname)
				if label == "" {
					label = DashedIP(a)
				}
				e.eps = append(e.eps, epRec{label: label, addr: a, ports: sl.Ports})
				e.ptrs = append(e.ptrs, ptrRec{a, label + "." + base})
			}
		}
	}
	sortEps(e.eps)
	for _, p := range e.ptrs {
		ix.ptr[p.addr] = append(ix.ptr[p.addr], p.name)
	}
}

func (ix *Index) dropPTR(a netip.Addr, name string) {
	names := ix.ptr[a]
	for i, n := range names {
		if n == name {
			names = append(names[:i], names[i+1:]...)
			break
		}
	}
	if len(names) == 0 {
		delete(ix.ptr, a)
	} else {
		ix.ptr[a] = names
	}
}

// DashedIP writes an address the way Kubernetes DNS names it: dots (or
// colons) replaced by dashes, e.g. 10-1-2-3 or 2001-db8--1.
func DashedIP(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return strings.ReplaceAll(a.Unmap().String(), ".", "-")
	}
	return strings.ReplaceAll(a.String(), ":", "-")
}

// parseDashedIP is the inverse of DashedIP. It accepts only well-formed
// addresses: four decimal octets for IPv4, a valid IPv6 address otherwise.
func parseDashedIP(s string) (netip.Addr, bool) {
	if strings.Count(s, "-") == 3 && !strings.Contains(s, "--") {
		a, err := netip.ParseAddr(strings.ReplaceAll(s, "-", "."))
		return a, err == nil && a.Is4()
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ":"))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}
