package services

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
)

// fakeMaps is an in-memory Writer that checks, after every single write,
// that no service entry a packet could read is half-written.
type fakeMaps struct {
	t        *testing.T
	mu       sync.Mutex
	svcs     map[lb.ServiceKey]lb.ServiceEntry
	slots    map[[3]uint32]uint32
	backends map[uint32]lb.Backend
	maglev   map[[2]uint32][]uint32
	ops      int
}

func newFake(t *testing.T) *fakeMaps {
	return &fakeMaps{t: t, svcs: map[lb.ServiceKey]lb.ServiceEntry{}, slots: map[[3]uint32]uint32{},
		backends: map[uint32]lb.Backend{}, maglev: map[[2]uint32][]uint32{}}
}

func (f *fakeMaps) check() {
	f.t.Helper()
	f.ops++
	for k, e := range f.svcs {
		for i := 0; i < int(e.Count); i++ {
			id, ok := f.slots[[3]uint32{e.ID, uint32(e.Gen), uint32(i)}]
			if !ok {
				f.t.Fatalf("op %d: service %v gen %d slot %d missing", f.ops, k, e.Gen, i)
			}
			if b, ok := f.backends[id]; !ok || b.ServiceID != e.ID {
				f.t.Fatalf("op %d: service %v slot %d -> backend %d missing or foreign", f.ops, k, i, id)
			}
		}
		if e.Maglev && e.Count > 0 {
			tbl, ok := f.maglev[[2]uint32{e.ID, uint32(e.Gen)}]
			if !ok {
				f.t.Fatalf("op %d: service %v maglev table missing", f.ops, k)
			}
			for _, id := range tbl {
				if _, ok := f.backends[id]; !ok {
					f.t.Fatalf("op %d: maglev table of %v names missing backend %d", f.ops, k, id)
				}
			}
		}
	}
}

func (f *fakeMaps) PutService(k lb.ServiceKey, e lb.ServiceEntry) error {
	f.svcs[k] = e
	f.check()
	return nil
}
func (f *fakeMaps) DeleteService(k lb.ServiceKey) error { delete(f.svcs, k); f.check(); return nil }
func (f *fakeMaps) PutSlot(s uint32, g uint8, i uint16, id uint32) error {
	f.slots[[3]uint32{s, uint32(g), uint32(i)}] = id
	f.check()
	return nil
}
func (f *fakeMaps) DeleteSlot(s uint32, g uint8, i uint16) error {
	delete(f.slots, [3]uint32{s, uint32(g), uint32(i)})
	f.check()
	return nil
}
func (f *fakeMaps) PutBackend(id uint32, b lb.Backend) error {
	f.backends[id] = b
	f.check()
	return nil
}
func (f *fakeMaps) DeleteBackend(id uint32) error { delete(f.backends, id); f.check(); return nil }
func (f *fakeMaps) PutMaglev(s uint32, g uint8, t []uint32) error {
	f.maglev[[2]uint32{s, uint32(g)}] = t
	f.check()
	return nil
}
func (f *fakeMaps) DeleteMaglev(s uint32, g uint8) error {
	delete(f.maglev, [2]uint32{s, uint32(g)})
	f.check()
	return nil
}
func (f *fakeMaps) ListServices() ([]lb.ServiceRecord, error) {
	var out []lb.ServiceRecord
	for k, e := range f.svcs {
		out = append(out, lb.ServiceRecord{Key: k, Entry: e})
	}
	return out, nil
}
func (f *fakeMaps) ListSlots() ([]lb.SlotRecord, error) {
	var out []lb.SlotRecord
	for k, v := range f.slots {
		out = append(out, lb.SlotRecord{SvcID: k[0], Gen: uint8(k[1]), Slot: uint16(k[2]), BackendID: v})
	}
	return out, nil
}
func (f *fakeMaps) ListBackends() (map[uint32]lb.Backend, error) {
	out := map[uint32]lb.Backend{}
	for k, v := range f.backends {
		out[k] = v
	}
	return out, nil
}
func (f *fakeMaps) ListMaglevKeys() ([][2]uint32, error) {
	var out [][2]uint32
	for k := range f.maglev {
		out = append(out, k)
	}
	return out, nil
}

func svc(vip string, port uint16, bes ...string) Service {
	s := Service{VIP: netip.MustParseAddr(vip), Port: port, Protocol: TCP}
	for _, b := range bes {
		s.Backends = append(s.Backends, Backend{Addr: netip.MustParseAddr(b), Port: 8080})
	}
	return s
}

func TestUpdateWritesOnlyChanges(t *testing.T) {
	GraceDelay = 0
	f := newFake(t)
	r, err := NewReconciler(f)
	if err != nil {
		t.Fatal(err)
	}
	var all []Service
	for i := 0; i < 50; i++ {
		all = append(all, svc(fmt.Sprintf("10.96.0.%d", i+1), 80, "10.0.0.1", "10.0.0.2", "10.0.0.3"))
	}
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	if len(f.svcs) != 50 || len(f.backends) != 150 || len(f.slots) != 150 {
		t.Fatalf("maps: %d services %d backends %d slots", len(f.svcs), len(f.backends), len(f.slots))
	}
	before := f.ops
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	if f.ops != before {
		t.Fatalf("unchanged update wrote %d times", f.ops-before)
	}
	// One endpoint of one service changes: a handful of writes, not 50 services' worth.
	all[7] = svc("10.96.0.8", 80, "10.0.0.1", "10.0.0.2", "10.0.0.4")
	before = f.ops
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	// 1 backend + 3 slots + 1 switch + 3 old slots + 1 old backend.
	if n := f.ops - before; n != 9 {
		t.Fatalf("one changed endpoint cost %d writes, want 9", n)
	}
	if len(f.backends) != 150 || len(f.slots) != 150 {
		t.Fatalf("leftovers: %d backends %d slots", len(f.backends), len(f.slots))
	}
	// Dropping services from the desired set deletes them entirely.
	if err := r.Update(all[:10]); err != nil {
		t.Fatal(err)
	}
	if len(f.svcs) != 10 || len(f.backends) != 30 || len(f.slots) != 30 {
		t.Fatalf("after shrink: %d services %d backends %d slots", len(f.svcs), len(f.backends), len(f.slots))
	}
}

func TestMaglevAndAffinityRoundTrip(t *testing.T) {
	GraceDelay = 0
	f := newFake(t)
	r, _ := NewReconciler(f)
	s := svc("10.96.0.1", 53, "10.0.0.1", "10.0.0.2")
	s.Protocol, s.Algorithm, s.Affinity = UDP, Maglev, 3*time.Hour
	if err := r.Upsert(s); err != nil {
		t.Fatal(err)
	}
	s.Backends = s.Backends[:1]
	if err := r.Upsert(s); err != nil {
		t.Fatal(err)
	}
	if len(f.maglev) != 1 || len(f.backends) != 1 {
		t.Fatalf("maglev tables %d backends %d", len(f.maglev), len(f.backends))
	}
	// A restarted reconciler restores ids and state from the maps.
	r2, err := NewReconciler(f)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.Services()
	if len(got) != 1 || got[0].Algorithm != Maglev || got[0].Affinity != 3*time.Hour || len(got[0].Backends) != 1 || got[0].Backends[0] != s.Backends[0] {
		t.Fatalf("restored %+v", got)
	}
	before := f.ops
	if err := r2.Upsert(s); err != nil || f.ops != before {
		t.Fatalf("restored state differs: err %v, %d writes", err, f.ops-before)
	}
	// New ids do not collide with restored ones.
	if err := r2.Upsert(svc("10.96.0.2", 80, "10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	ids := map[uint32]bool{}
	for _, e := range f.svcs {
		if ids[e.ID] {
			t.Fatalf("duplicate service id %d", e.ID)
		}
		ids[e.ID] = true
	}
	if err := r2.Delete(s.Key()); err != nil {
		t.Fatal(err)
	}
	if len(f.svcs) != 1 || len(f.maglev) != 0 || len(f.backends) != 1 {
		t.Fatalf("after delete: %d services %d tables %d backends", len(f.svcs), len(f.maglev), len(f.backends))
	}
}

func TestRestoreRemovesLeftovers(t *testing.T) {
	GraceDelay = 0
	f := newFake(t)
	r, _ := NewReconciler(f)
	if err := r.Upsert(svc("10.96.0.1", 80, "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	// An interrupted write: a backend and a slot no service entry uses.
	f.backends[99] = lb.Backend{Addr: netip.MustParseAddr("10.9.9.9"), Port: 1, ServiceID: 1}
	f.slots[[3]uint32{1, 1, 0}] = 99
	if _, err := NewReconciler(f); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.backends[99]; ok || len(f.slots) != 1 {
		t.Fatalf("leftovers kept: backends %v slots %v", f.backends, f.slots)
	}
}

func TestInvalidInputWritesNothing(t *testing.T) {
	f := newFake(t)
	r, _ := NewReconciler(f)
	bad := []Service{
		svc("10.96.0.1", 80, "10.0.0.1"),
		{VIP: netip.MustParseAddr("fd00::1"), Port: 80, Protocol: TCP},
	}
	if err := r.Update(bad); err == nil {
		t.Fatal("IPv6 VIP accepted")
	}
	for _, s := range []Service{
		{VIP: netip.MustParseAddr("10.96.0.1"), Port: 0, Protocol: TCP},
		{VIP: netip.MustParseAddr("10.96.0.1"), Port: 80, Protocol: 1},
		{VIP: netip.MustParseAddr("10.96.0.1"), Port: 80, Protocol: TCP, Affinity: time.Millisecond},
		{VIP: netip.MustParseAddr("10.96.0.1"), Port: 80, Protocol: TCP, Backends: []Backend{{Addr: netip.MustParseAddr("10.0.0.1")}}},
	} {
		if err := r.Upsert(s); err == nil {
			t.Fatalf("accepted %+v", s)
		}
	}
	if err := r.Update([]Service{svc("10.96.0.1", 80), svc("10.96.0.1", 80)}); err == nil {
		t.Fatal("duplicate service accepted")
	}
	if f.ops != 0 {
		t.Fatalf("invalid input caused %d writes", f.ops)
	}
}

func TestConcurrentCallsCoalesce(t *testing.T) {
	GraceDelay = 0
	f := newFake(t)
	r, _ := NewReconciler(f)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.Upsert(svc(fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), 80, "10.0.0.1"))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(f.svcs) != 200 || len(r.Services()) != 200 {
		t.Fatalf("%d services written", len(f.svcs))
	}
}

// blockingMaps holds the first service write until released.
type blockingMaps struct {
	*fakeMaps
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingMaps) PutService(k lb.ServiceKey, e lb.ServiceEntry) error {
	b.once.Do(func() { close(b.entered); <-b.release })
	return b.fakeMaps.PutService(k, e)
}

func TestBurstIsOneFlush(t *testing.T) {
	GraceDelay = 0
	b := &blockingMaps{fakeMaps: newFake(t), entered: make(chan struct{}), release: make(chan struct{})}
	r, _ := NewReconciler(b)
	first := make(chan error, 1)
	go func() { first <- r.Upsert(svc("10.96.1.1", 80, "10.0.0.1")) }()
	<-b.entered // the first flush is writing
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Upsert(svc(fmt.Sprintf("10.96.2.%d", i+1), 80, "10.0.0.1")); err != nil {
				t.Error(err)
			}
		}()
	}
	// Wait until all 50 are queued in the open batch, then let go.
	for {
		r.mu.Lock()
		n := 0
		if r.batch != nil {
			n = len(r.batch.changes)
		}
		r.mu.Unlock()
		if n == 50 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(b.release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if f := r.Flushes(); f != 2 {
		t.Fatalf("51 calls took %d flushes, want 2", f)
	}
	if len(b.svcs) != 51 {
		t.Fatalf("%d services written", len(b.svcs))
	}
}

// batchFake adds BatchWriter to fakeMaps; elements land one by one, with the
// invariant checked after each, as a batch syscall would apply them.
type batchFake struct {
	*fakeMaps
	batches int
}

func (f *batchFake) PutBackends(ids []uint32, bs []lb.Backend) error {
	f.batches++
	for i := range ids {
		f.fakeMaps.PutBackend(ids[i], bs[i])
	}
	return nil
}

func (f *batchFake) PutSlots(s []lb.SlotRecord) error {
	f.batches++
	for _, x := range s {
		f.fakeMaps.PutSlot(x.SvcID, x.Gen, x.Slot, x.BackendID)
	}
	return nil
}

func (f *batchFake) PutServices(recs []lb.ServiceRecord) error {
	f.batches++
	for _, r := range recs {
		f.fakeMaps.PutService(r.Key, r.Entry)
	}
	return nil
}

func TestManyNewServicesAreBatched(t *testing.T) {
	GraceDelay = 0
	f := &batchFake{fakeMaps: newFake(t)}
	r, _ := NewReconciler(f)
	var all []Service
	for i := 0; i < 300; i++ {
		s := svc(fmt.Sprintf("10.96.%d.%d", i/200, i%200+1), 80, "10.0.0.1", "10.0.0.2")
		if i%3 == 0 {
			s.Algorithm = Maglev
		}
		all = append(all, s)
	}
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	if f.batches != 3 || len(f.svcs) != 300 || len(f.backends) != 600 || len(f.maglev) != 100 {
		t.Fatalf("batches %d services %d backends %d tables %d", f.batches, len(f.svcs), len(f.backends), len(f.maglev))
	}
	// Later changes to batched services go through the normal path.
	all[5].Backends = all[5].Backends[:1]
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	if len(f.backends) != 599 {
		t.Fatalf("backends %d", len(f.backends))
	}
}
