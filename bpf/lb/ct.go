package lb

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

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
	if m.SockStats == nil {
		return out, nil
	}
	sock, err := m.ReadSockStats()
	if err != nil {
		return nil, err
	}
	for k, v := range sock {
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
