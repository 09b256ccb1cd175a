package lb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
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
}

// Sizes are map capacities; zero keeps the compiled-in default.
type Sizes struct {
	Services, Backends, Slots, Conntrack, Affinity, Maglev uint32
}

// Objects is a loaded program and its maps.
type Objects struct {
	Program *ebpf.Program // TC ingress: the balancer
	Egress  *ebpf.Program // TC egress: node-generated ICMP errors
	Maps
}

// Maps are the balancer's maps; all methods are safe for concurrent use.
type Maps struct {
	Services, Slots, Backends, Maglev, CT, Affinity, Stats *ebpf.Map
	// DNS (node-local DNS steering config) and DNSStats may be nil on
	// maps pinned by a Skiff that predates them.
	DNS, DNSStats *ebpf.Map
}

// Close releases the file descriptors (pins stay).
func (o *Objects) Close() error {
	if o.Program != nil {
		o.Program.Close()
	}
	if o.Egress != nil {
		o.Egress.Close()
	}
	return o.Maps.Close()
}

// Close releases the maps' file descriptors.
func (m *Maps) Close() error {
	for _, x := range []*ebpf.Map{m.Services, m.Slots, m.Backends, m.Maglev, m.CT, m.Affinity, m.Stats, m.DNS, m.DNSStats} {
		if x != nil {
			x.Close()
		}
	}
	return nil
}

// MapNames maps each Maps field, in field order, to its object name (for
// pinning).
var MapNames = []string{lbMapLbServices, lbMapLbSlots, lbMapLbBackends, lbMapLbMaglev, lbMapLbCt, lbMapLbAffinity, lbMapLbStats, lbMapLbDns, lbMapLbDnsStats}

// OptionalMaps are the MapNames an older pinned dataplane may lack.
var OptionalMaps = map[string]bool{lbMapLbDns: true, lbMapLbDnsStats: true}

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
	for name, n := range map[string]uint32{lbMapLbServices: sizes.Services, lbMapLbBackends: sizes.Backends, lbMapLbSlots: sizes.Slots, lbMapLbCt: sizes.Conntrack, lbMapLbAffinity: sizes.Affinity, lbMapLbMaglev: sizes.Maglev} {
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
	coll.Close()
	if o.Program == nil || o.Egress == nil || o.Services == nil || o.CT == nil || o.DNS == nil {
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

// CTKey is one direction of a tracked flow as packets carry it.
type CTKey struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	Reply            bool // backend -> client direction
}

// CTEntry is the translation for a CTKey. Forward: destination becomes
// NAT, source becomes Rev. Reply: source becomes NAT, destination Rev.
type CTEntry struct {
	Expires          time.Duration // CLOCK_MONOTONIC deadline
	NATAddr, RevAddr netip.Addr
	NATPort, RevPort uint16
	BackendID, SvcID uint32
	Hairpin, Closing bool
}

// CTRecord is one conntrack map entry.
type CTRecord struct {
	Key   CTKey
	Entry CTEntry
}

func ctKeyFrom(k lbCtKey) CTKey {
	return CTKey{Src: u32Addr(k.Src), Dst: u32Addr(k.Dst), SrcPort: portN(k.Sport), DstPort: portN(k.Dport), Proto: k.Proto, Reply: k.Dir == uint8(lbCtDirCT_REPLY)}
}

func ctKeyTo(k CTKey) lbCtKey {
	d := uint8(lbCtDirCT_FORWARD)
	if k.Reply {
		d = uint8(lbCtDirCT_REPLY)
	}
	return lbCtKey{Src: addrU32(k.Src), Dst: addrU32(k.Dst), Sport: portN(k.SrcPort), Dport: portN(k.DstPort), Proto: k.Proto, Dir: d}
}

// ListCT reads the conntrack map.
func (m *Maps) ListCT() ([]CTRecord, error) {
	var out []CTRecord
	var k lbCtKey
	var v lbCtEntry
	it := m.CT.Iterate()
	for it.Next(&k, &v) {
		out = append(out, CTRecord{Key: ctKeyFrom(k), Entry: CTEntry{
			Expires: time.Duration(v.Expires), NATAddr: u32Addr(v.NatAddr), RevAddr: u32Addr(v.RevAddr),
			NATPort: portN(v.NatPort), RevPort: portN(v.RevPort), BackendID: v.BackendId, SvcID: v.SvcId,
			Hairpin: v.Flags&uint8(lbCtFlagsCT_F_HAIRPIN) != 0, Closing: v.Flags&uint8(lbCtFlagsCT_F_CLOSING) != 0}})
	}
	return out, it.Err()
}

// LookupCT reads one conntrack entry.
func (m *Maps) LookupCT(k CTKey) (CTEntry, bool, error) {
	var v lbCtEntry
	err := m.CT.Lookup(ctKeyTo(k), &v)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return CTEntry{}, false, nil
	}
	if err != nil {
		return CTEntry{}, false, err
	}
	return CTEntry{Expires: time.Duration(v.Expires), NATAddr: u32Addr(v.NatAddr), RevAddr: u32Addr(v.RevAddr),
		NATPort: portN(v.NatPort), RevPort: portN(v.RevPort), BackendID: v.BackendId, SvcID: v.SvcId,
		Hairpin: v.Flags&uint8(lbCtFlagsCT_F_HAIRPIN) != 0, Closing: v.Flags&uint8(lbCtFlagsCT_F_CLOSING) != 0}, true, nil
}

// PutCT writes a conntrack entry (tests and tools; the program owns CT).
func (m *Maps) PutCT(k CTKey, e CTEntry) error {
	v := lbCtEntry{Expires: uint64(e.Expires), NatAddr: addrU32(e.NATAddr), RevAddr: addrU32(e.RevAddr),
		NatPort: portN(e.NATPort), RevPort: portN(e.RevPort), BackendId: e.BackendID, SvcId: e.SvcID}
	if e.Hairpin {
		v.Flags |= uint8(lbCtFlagsCT_F_HAIRPIN)
	}
	if e.Closing {
		v.Flags |= uint8(lbCtFlagsCT_F_CLOSING)
	}
	return wrap(m.CT.Put(ctKeyTo(k), v), "conntrack entry", k)
}

// Monotonic is the CLOCK_MONOTONIC time the program's deadlines use.
func Monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// GCConntrack deletes flows whose both directions expired before now and
// returns how many entries it removed.
func (m *Maps) GCConntrack(now time.Duration) (int, error) {
	recs, err := m.ListCT()
	if err != nil {
		return 0, err
	}
	idx := make(map[CTKey]CTEntry, len(recs))
	for _, r := range recs {
		idx[r.Key] = r.Entry
	}
	removed := 0
	for _, r := range recs {
		if r.Entry.Expires >= now {
			continue
		}
		peer := PeerKey(r.Key, r.Entry)
		if pe, ok := idx[peer]; ok && pe.Expires >= now {
			continue // the other direction is still alive
		}
		if err := m.CT.Delete(ctKeyTo(r.Key)); err == nil {
			removed++
		}
	}
	return removed, nil
}

// PeerKey returns the key of the other direction of the flow (k, e).
func PeerKey(k CTKey, e CTEntry) CTKey {
	if k.Reply {
		return CTKey{Src: e.RevAddr, Dst: e.NATAddr, SrcPort: e.RevPort, DstPort: e.NATPort, Proto: k.Proto}
	}
	return CTKey{Src: e.NATAddr, Dst: e.RevAddr, SrcPort: e.NATPort, DstPort: e.RevPort, Proto: k.Proto, Reply: true}
}

// --- stats ---

// Stat is a packet counter index (named drop reasons included).
type Stat = lbLbStat

// Counter names, in enum lb_stat order.
var statNames = map[Stat]string{
	lbLbStatLB_STAT_NEW_FLOW: "new_flow", lbLbStatLB_STAT_FORWARD: "forward", lbLbStatLB_STAT_REPLY: "reply",
	lbLbStatLB_STAT_ICMP_XLATE: "icmp_error_translated", lbLbStatLB_STAT_REJECT_TCP_RST: "rejected_tcp_rst",
	lbLbStatLB_STAT_REJECT_ICMP: "rejected_icmp_unreachable", lbLbStatLB_STAT_HAIRPIN: "hairpin",
	lbLbStatLB_STAT_RESELECT: "reselected_dead_backend", lbLbStatLB_STAT_AFFINITY_HIT: "affinity_hit",
	lbLbStatLB_STAT_FRAGMENT: "fragment_passed", lbLbStatLB_STAT_DROP_CT_FULL: "drop_conntrack_full",
	lbLbStatLB_STAT_DROP_NO_BACKEND: "drop_no_backend", lbLbStatLB_STAT_DROP_REWRITE: "drop_rewrite_failed",
	lbLbStatLB_STAT_DROP_UNSUPPORTED: "drop_unsupported",
}

// Named counters.
const (
	StatNewFlow    = lbLbStatLB_STAT_NEW_FLOW
	StatForward    = lbLbStatLB_STAT_FORWARD
	StatReply      = lbLbStatLB_STAT_REPLY
	StatICMPXlate  = lbLbStatLB_STAT_ICMP_XLATE
	StatRejectRST  = lbLbStatLB_STAT_REJECT_TCP_RST
	StatRejectICMP = lbLbStatLB_STAT_REJECT_ICMP
	StatHairpin    = lbLbStatLB_STAT_HAIRPIN
	StatReselect   = lbLbStatLB_STAT_RESELECT
	StatAffinity   = lbLbStatLB_STAT_AFFINITY_HIT
	StatDropCTFull = lbLbStatLB_STAT_DROP_CT_FULL
)

// StatName is a counter's printable name.
func StatName(s Stat) string { return statNames[s] }

// ReadStats sums the per-CPU counters.
func (m *Maps) ReadStats() (map[string]uint64, error) {
	out := map[string]uint64{}
	for s := Stat(0); s < lbLbStatLB_STAT_MAX; s++ {
		var per []uint64
		if err := m.Stats.Lookup(uint32(s), &per); err != nil {
			return nil, fmt.Errorf("read counter %s: %w", statNames[s], err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		out[statNames[s]] = sum
	}
	if m.DNSStats == nil {
		return out, nil
	}
	dns, err := m.ReadDNSStats()
	if err != nil {
		return nil, err
	}
	for k, v := range dns {
		out[k] = v
	}
	return out, nil
}

// ProtoName is "TCP", "UDP" or the number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	}
	return fmt.Sprint(p)
}

func wrap(err error, what string, k any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOMEM) {
		return fmt.Errorf("write %s %v: map full: raise the map size in the loader options: %w", what, k, err)
	}
	return fmt.Errorf("write %s %v: %w", what, k, err)
}

func ignoreNotExist(err error, what string, k any) error {
	if err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return fmt.Errorf("delete %s %v: %w", what, k, err)
}

// SlotRecord is one slot map entry.
type SlotRecord struct {
	SvcID     uint32
	Gen       uint8
	Slot      uint16
	BackendID uint32
}

// ListSlots reads the slot map.
func (m *Maps) ListSlots() ([]SlotRecord, error) {
	var out []SlotRecord
	var k lbSlotKey
	var v uint32
	it := m.Slots.Iterate()
	for it.Next(&k, &v) {
		out = append(out, SlotRecord{SvcID: k.SvcId, Gen: k.Gen, Slot: k.Slot, BackendID: v})
	}
	return out, it.Err()
}

// ListMaglevKeys returns (service id, generation) of every Maglev table.
func (m *Maps) ListMaglevKeys() ([][2]uint32, error) {
	var out [][2]uint32
	var k uint32
	it := m.Maglev.Iterate()
	var v lbMaglevTable
	for it.Next(&k, &v) {
		out = append(out, [2]uint32{k >> 1, k & 1})
	}
	return out, it.Err()
}

// batchChunk bounds one BPF_MAP_UPDATE_BATCH call.
const batchChunk = 8192

func putBatch[K, V any](m *ebpf.Map, keys []K, vals []V, what string) error {
	for len(keys) > 0 {
		n := min(len(keys), batchChunk)
		if _, err := m.BatchUpdate(keys[:n], vals[:n], nil); err != nil {
			return wrap(err, what+" batch", n)
		}
		keys, vals = keys[n:], vals[n:]
	}
	return nil
}

// PutBackends writes many backends in batched syscalls.
func (m *Maps) PutBackends(ids []uint32, bs []Backend) error {
	vals := make([]lbBackend, len(bs))
	for i, b := range bs {
		if !b.Addr.Is4() {
			return fmt.Errorf("backend address %s is not IPv4: Skiff balances IPv4 only", b.Addr)
		}
		vals[i] = lbBackend{Addr: addrU32(b.Addr), Port: portN(b.Port), SvcId: b.ServiceID}
	}
	return putBatch(m.Backends, ids, vals, "backend")
}

// PutSlots writes many slots in batched syscalls.
func (m *Maps) PutSlots(slots []SlotRecord) error {
	keys := make([]lbSlotKey, len(slots))
	vals := make([]uint32, len(slots))
	for i, s := range slots {
		keys[i] = lbSlotKey{SvcId: s.SvcID, Slot: s.Slot, Gen: s.Gen & 1}
		vals[i] = s.BackendID
	}
	return putBatch(m.Slots, keys, vals, "slot")
}

// PutServices writes many service entries in batched syscalls; each entry
// is still replaced atomically on its own.
func (m *Maps) PutServices(recs []ServiceRecord) error {
	keys := make([]lbSvcKey, len(recs))
	vals := make([]lbSvcEntry, len(recs))
	for i, r := range recs {
		k, err := svcKey(r.Key)
		if err != nil {
			return err
		}
		keys[i] = k
		vals[i] = svcEntry(r.Entry)
	}
	return putBatch(m.Services, keys, vals, "service")
}

func svcEntry(e ServiceEntry) lbSvcEntry {
	v := lbSvcEntry{Id: e.ID, Count: e.Count, Gen: e.Gen & 1, AffinityTimeout: uint32(e.AffinityTimeout / time.Second)}
	if e.Affinity {
		v.Flags |= uint8(lbSvcFlagsSVC_F_AFFINITY)
	}
	if e.Maglev {
		v.Flags |= uint8(lbSvcFlagsSVC_F_MAGLEV)
	}
	return v
}
