package lb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
)

// Protocol numbers the balancer handles.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// MaglevSize is the number of entries of a Maglev lookup table (LB_MAGLEV_M).
const MaglevSize = len(lbMaglevTable{}.Ids)

// Config is the program's load-time configuration.
type Config struct {
	// HairpinAddr is the source address for hairpin flows (a backend
	// reaching its own service). Invalid or zero disables hairpin SNAT.
	HairpinAddr netip.Addr
	// Conntrack idle timeouts; zero keeps the defaults (6 h TCP, 60 s UDP,
	// 10 s after FIN/RST).
	TCPTimeout, UDPTimeout, ClosingTimeout time.Duration
	// SockNetnsCookie restricts the socket-level programs (sock.go) to
	// sockets of the network namespace with this cookie (NetnsCookie);
	// zero handles sockets of every namespace.
	SockNetnsCookie uint64
	// SockLoopbackAlias, when valid, makes the socket-level programs
	// balance 127.0.0.1:port (with no frontend of its own) as
	// SockLoopbackAlias:port: give the node IP so 127.0.0.1:hostPort
	// reaches the pod as nodeIP:hostPort does.
	SockLoopbackAlias netip.Addr
}

// Sizes are map capacities; zero keeps the compiled-in default.
type Sizes struct {
	Services, Backends, Slots, Conntrack, Affinity, Maglev uint32
	// SockXlate is the capacity of the socket translation LRU (sock.go).
	SockXlate uint32
}

// Objects is a loaded program and its maps.
type Objects struct {
	Program *ebpf.Program // TC ingress: the balancer
	Egress  *ebpf.Program // TC egress: node-generated ICMP errors
	Sock    SockPrograms  // cgroup sock_addr: node-originated traffic
	Maps
}

// Maps are the balancer's maps; all methods are safe for concurrent use.
type Maps struct {
	Services, Slots, Backends, Maglev, CT, Affinity, Stats *ebpf.Map
	// DNS (node-local DNS steering config) and DNSStats may be nil on
	// maps pinned by a Skiff that predates them.
	DNS, DNSStats *ebpf.Map
	// SockXlate and SockStats (socket-level balancing, sock.go) may be
	// nil on maps pinned by a Skiff that predates them.
	SockXlate, SockStats *ebpf.Map
}

// Close releases the file descriptors (pins stay).
func (o *Objects) Close() error {
	if o.Program != nil {
		o.Program.Close()
	}
	if o.Egress != nil {
		o.Egress.Close()
	}
	o.Sock.close()
	return o.Maps.Close()
}

// Close releases the maps' file descriptors.
func (m *Maps) Close() error {
	for _, x := range []*ebpf.Map{m.Services, m.Slots, m.Backends, m.Maglev, m.CT, m.Affinity, m.Stats, m.DNS, m.DNSStats, m.SockXlate, m.SockStats} {
		if x != nil {
			x.Close()
		}
	}
	return nil
}

// MapNames maps each Maps field, in field order, to its object name (for
// pinning).
var MapNames = []string{lbMapLbServices, lbMapLbSlots, lbMapLbBackends, lbMapLbMaglev, lbMapLbCt, lbMapLbAffinity, lbMapLbStats, lbMapLbDns, lbMapLbDnsStats, lbMapLbSockXlate, lbMapLbSockStats}

// OptionalMaps are the MapNames an older pinned dataplane may lack.
var OptionalMaps = map[string]bool{lbMapLbDns: true, lbMapLbDnsStats: true, lbMapLbSockXlate: true, lbMapLbSockStats: true}

// DNSMapName is the pin name of the node-local DNS steering map.
const DNSMapName = lbMapLbDns

// Spec returns the collection spec with cfg and sizes applied.
func Spec(cfg Config, sizes Sizes) (*ebpf.CollectionSpec, error) {
	spec, err := loadLb()
	if err != nil {
		return nil, err
	}
	if cfg.HairpinAddr.IsValid() {
		if !cfg.HairpinAddr.Is4() {
			return nil, fmt.Errorf("hairpin address %s is not IPv4: give an IPv4 node address", cfg.HairpinAddr)
		}
		if err := spec.Variables[lbVarCfgHairpinAddr].Set(addrU32(cfg.HairpinAddr)); err != nil {
			return nil, err
		}
	}
	if cfg.SockLoopbackAlias.IsValid() {
		if !cfg.SockLoopbackAlias.Is4() {
			return nil, fmt.Errorf("loopback alias %s is not IPv4: give the IPv4 node address", cfg.SockLoopbackAlias)
		}
		if err := spec.Variables[lbVarCfgSockLoopbackAlias].Set(addrU32(cfg.SockLoopbackAlias)); err != nil {
			return nil, err
		}
	}
	if cfg.SockNetnsCookie != 0 {
		if err := spec.Variables[lbVarCfgSockNetnsCookie].Set(cfg.SockNetnsCookie); err != nil {
			return nil, err
		}
	}
	for name, d := range map[string]time.Duration{lbVarCfgCtTcpTimeoutS: cfg.TCPTimeout, lbVarCfgCtUdpTimeoutS: cfg.UDPTimeout, lbVarCfgCtClosingTimeoutS: cfg.ClosingTimeout} {
		if d == 0 {
			continue
		}
		if d < time.Second {
			return nil, fmt.Errorf("conntrack timeout %s is under a second: use whole seconds", d)
		}
		if err := spec.Variables[name].Set(uint32(d / time.Second)); err != nil {
			return nil, err
		}
	}
	for name, n := range map[string]uint32{lbMapLbServices: sizes.Services, lbMapLbBackends: sizes.Backends, lbMapLbSlots: sizes.Slots, lbMapLbCt: sizes.Conntrack, lbMapLbAffinity: sizes.Affinity, lbMapLbMaglev: sizes.Maglev, lbMapLbSockXlate: sizes.SockXlate} {
		if n != 0 {
			spec.Maps[name].MaxEntries = n
		}
	}
	return spec, nil
}

// Load loads the program with cfg and sizes, without pinning.
func Load(cfg Config, sizes Sizes, opts *ebpf.CollectionOptions) (*Objects, error) {
	spec, err := Spec(cfg, sizes)
	if err != nil {
		return nil, err
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, orEmpty(opts))
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load lb program: %+v", ve)
		}
		return nil, fmt.Errorf("load lb program: %w", err)
	}
	return FromCollection(coll)
}

func orEmpty(o *ebpf.CollectionOptions) ebpf.CollectionOptions {
	if o == nil {
		return ebpf.CollectionOptions{}
	}
	return *o
}

// FromCollection takes the program and maps out of a loaded collection.
func FromCollection(coll *ebpf.Collection) (*Objects, error) {
	o := &Objects{Program: coll.DetachProgram(lbProgLbIngress), Egress: coll.DetachProgram(lbProgLbEgress)}
	o.Services = coll.DetachMap(lbMapLbServices)
	o.Slots = coll.DetachMap(lbMapLbSlots)
	o.Backends = coll.DetachMap(lbMapLbBackends)
	o.Maglev = coll.DetachMap(lbMapLbMaglev)
	o.CT = coll.DetachMap(lbMapLbCt)
	o.Affinity = coll.DetachMap(lbMapLbAffinity)
	o.Stats = coll.DetachMap(lbMapLbStats)
	o.DNS = coll.DetachMap(lbMapLbDns)
	o.DNSStats = coll.DetachMap(lbMapLbDnsStats)
	o.SockXlate = coll.DetachMap(lbMapLbSockXlate)
	o.SockStats = coll.DetachMap(lbMapLbSockStats)
	o.Sock = SockPrograms{
		Connect4:     coll.DetachProgram(lbProgLbSockConnect4),
		Sendmsg4:     coll.DetachProgram(lbProgLbSockSendmsg4),
		Recvmsg4:     coll.DetachProgram(lbProgLbSockRecvmsg4),
		Getpeername4: coll.DetachProgram(lbProgLbSockGetpeername4),
	}
	coll.Close()
	if o.Program == nil || o.Egress == nil || o.Services == nil || o.CT == nil || o.DNS == nil ||
		o.Sock.Connect4 == nil || o.Sock.Sendmsg4 == nil || o.Sock.Recvmsg4 == nil || o.Sock.Getpeername4 == nil || o.SockXlate == nil {
		o.Close()
		return nil, errors.New("lb collection lacks its program or maps: rebuild with 'make generate'")
	}
	return o, nil
}

// --- byte order: the only place that knows it ---

func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.LittleEndian.Uint32(b[:]) // network bytes as the kernel stores them
}

func u32Addr(v uint32) netip.Addr {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func portN(p uint16) uint16 { return p<<8 | p>>8 } // host <-> network (little-endian host)

// --- services ---

// ServiceKey identifies a service frontend.
type ServiceKey struct {
	VIP   netip.Addr
	Port  uint16
	Proto uint8
}

func (k ServiceKey) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.VIP, k.Port), ProtoName(k.Proto))
}

// ServiceEntry is a service's master entry.
type ServiceEntry struct {
	ID              uint32
	Count           uint16 // backends in generation Gen
	Gen             uint8  // active slot generation, 0 or 1
	Affinity        bool
	Maglev          bool
	AffinityTimeout time.Duration // whole seconds
}

func svcKey(k ServiceKey) (lbSvcKey, error) {
	if !k.VIP.Is4() {
		return lbSvcKey{}, fmt.Errorf("service address %s is not IPv4: Skiff balances IPv4 only", k.VIP)
	}
	return lbSvcKey{Vip: addrU32(k.VIP), Port: portN(k.Port), Proto: k.Proto}, nil
}

// PutService writes a service's master entry (one atomic map update).
func (m *Maps) PutService(k ServiceKey, e ServiceEntry) error {
	key, err := svcKey(k)
	if err != nil {
		return err
	}
	return wrap(m.Services.Put(key, svcEntry(e)), "service", k)
}

// DeleteService removes a service's master entry.
func (m *Maps) DeleteService(k ServiceKey) error {
	key, err := svcKey(k)
	if err != nil {
		return err
	}
	return ignoreNotExist(m.Services.Delete(key), "service", k)
}

// ServiceRecord is one entry read back from the services map.
type ServiceRecord struct {
	Key   ServiceKey
	Entry ServiceEntry
}

// ListServices reads the services map.
func (m *Maps) ListServices() ([]ServiceRecord, error) {
	var out []ServiceRecord
	var k lbSvcKey
	var v lbSvcEntry
	it := m.Services.Iterate()
	for it.Next(&k, &v) {
		out = append(out, ServiceRecord{
			Key: ServiceKey{VIP: u32Addr(k.Vip), Port: portN(k.Port), Proto: k.Proto},
			Entry: ServiceEntry{ID: v.Id, Count: v.Count, Gen: v.Gen,
				Affinity: v.Flags&uint8(lbSvcFlagsSVC_F_AFFINITY) != 0, Maglev: v.Flags&uint8(lbSvcFlagsSVC_F_MAGLEV) != 0,
				AffinityTimeout: time.Duration(v.AffinityTimeout) * time.Second},
		})
	}
	return out, it.Err()
}

// --- slots ---

// PutSlot sets slot of generation gen of service svcID to backend id.
func (m *Maps) PutSlot(svcID uint32, gen uint8, slot uint16, backendID uint32) error {
	return wrap(m.Slots.Put(lbSlotKey{SvcId: svcID, Slot: slot, Gen: gen & 1}, backendID), "slot", svcID)
}

// DeleteSlot removes a slot.
func (m *Maps) DeleteSlot(svcID uint32, gen uint8, slot uint16) error {
	return ignoreNotExist(m.Slots.Delete(lbSlotKey{SvcId: svcID, Slot: slot, Gen: gen & 1}), "slot", svcID)
}

// Slot reads one slot; ok is false if it is absent.
func (m *Maps) Slot(svcID uint32, gen uint8, slot uint16) (id uint32, ok bool, err error) {
	err = m.Slots.Lookup(lbSlotKey{SvcId: svcID, Slot: slot, Gen: gen & 1}, &id)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// --- backends ---

// Backend is one backend entry; ids are per service.
type Backend struct {
	Addr      netip.Addr
	Port      uint16
	ServiceID uint32
}

// PutBackend writes backend id.
func (m *Maps) PutBackend(id uint32, b Backend) error {
	if !b.Addr.Is4() {
		return fmt.Errorf("backend address %s is not IPv4: Skiff balances IPv4 only", b.Addr)
	}
	return wrap(m.Backends.Put(id, lbBackend{Addr: addrU32(b.Addr), Port: portN(b.Port), SvcId: b.ServiceID}), "backend", id)
}

// DeleteBackend removes backend id.
func (m *Maps) DeleteBackend(id uint32) error {
	return ignoreNotExist(m.Backends.Delete(id), "backend", id)
}

// ListBackends reads the backends map.
func (m *Maps) ListBackends() (map[uint32]Backend, error) {
	out := map[uint32]Backend{}
	var k uint32
	var v lbBackend
	it := m.Backends.Iterate()
	for it.Next(&k, &v) {
		out[k] = Backend{Addr: u32Addr(v.Addr), Port: portN(v.Port), ServiceID: v.SvcId}
	}
	return out, it.Err()
}

// --- maglev ---

// PutMaglev writes the Maglev table of generation gen of service svcID.
func (m *Maps) PutMaglev(svcID uint32, gen uint8, table []uint32) error {
	if len(table) != MaglevSize {
		return fmt.Errorf("maglev table has %d entries, want %d", len(table), MaglevSize)
	}
	var t lbMaglevTable
	copy(t.Ids[:], table)
	return wrap(m.Maglev.Put(svcID<<1|uint32(gen&1), &t), "maglev table", svcID)
}

// DeleteMaglev removes a Maglev table.
func (m *Maps) DeleteMaglev(svcID uint32, gen uint8) error {
	return ignoreNotExist(m.Maglev.Delete(svcID<<1|uint32(gen&1)), "maglev table", svcID)
}

// --- conntrack ---
