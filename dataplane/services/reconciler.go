package services

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
)

// Writer is the map API the Reconciler drives; *lb.Maps implements it.
type Writer interface {
	PutService(k lb.ServiceKey, e lb.ServiceEntry) error
	DeleteService(k lb.ServiceKey) error
	PutSlot(svcID uint32, gen uint8, slot uint16, backendID uint32) error
	DeleteSlot(svcID uint32, gen uint8, slot uint16) error
	PutBackend(id uint32, b lb.Backend) error
	DeleteBackend(id uint32) error
	PutMaglev(svcID uint32, gen uint8, table []uint32) error
	DeleteMaglev(svcID uint32, gen uint8) error
	ListServices() ([]lb.ServiceRecord, error)
	ListSlots() ([]lb.SlotRecord, error)
	ListBackends() (map[uint32]lb.Backend, error)
	ListMaglevKeys() ([][2]uint32, error)
}

// GraceDelay is how long old slots, tables and backends outlive the
// service-entry switch that stopped referencing them, so a packet that read
// the old entry an instant before the switch still finds them.
var GraceDelay = time.Millisecond

// Reconciler writes desired services into the lb maps.
type Reconciler struct {
	w Writer

	mu      sync.Mutex
	batch   *batch // changes waiting for the next flush
	flushMu sync.Mutex

	// Guarded by flushMu.
	state       map[Key]*svcState
	nextSvc     uint32
	nextBackend uint32
	flushes     atomic.Uint64
}

// Flushes counts write passes so far (a burst of calls shares one).
func (r *Reconciler) Flushes() uint64 { return r.flushes.Load() }

type svcState struct {
	id  uint32
	gen uint8
	svc Service // normalized backends
	ids map[Backend]uint32
}

// batch is one group of coalesced changes: nil value = delete.
type batch struct {
	changes map[Key]*Service
	full    bool // changes is the complete desired set (Update)
	done    chan struct{}
	err     error
}

// NewReconciler restores service and backend ids from the maps (so a
// restarted agent keeps them), removes leftovers of an interrupted write and
// returns a Reconciler ready for Update/Upsert/Delete.
func NewReconciler(w Writer) (*Reconciler, error) {
	r := &Reconciler{w: w, state: map[Key]*svcState{}, nextSvc: 1, nextBackend: 1}
	if err := r.restore(); err != nil {
		return nil, fmt.Errorf("restore services from maps: %w", err)
	}
	return r, nil
}

func (r *Reconciler) restore() error {
	recs, err := r.w.ListServices()
	if err != nil {
		return err
	}
	slots, err := r.w.ListSlots()
	if err != nil {
		return err
	}
	backends, err := r.w.ListBackends()
	if err != nil {
		return err
	}
	tables, err := r.w.ListMaglevKeys()
	if err != nil {
		return err
	}
	byID := map[uint32]*svcState{}
	for _, rec := range recs {
		k := Key{VIP: rec.Key.VIP, Port: rec.Key.Port, Protocol: Proto(rec.Key.Proto)}
		st := &svcState{id: rec.Entry.ID, gen: rec.Entry.Gen, ids: map[Backend]uint32{},
			svc: Service{VIP: k.VIP, Port: k.Port, Protocol: k.Protocol}}
		if rec.Entry.Affinity {
			st.svc.Affinity = rec.Entry.AffinityTimeout
		}
		if rec.Entry.Maglev {
			st.svc.Algorithm = Maglev
		}
		st.svc.Backends = make([]Backend, rec.Entry.Count)
		r.state[k] = st
		byID[st.id] = st
		r.nextSvc = max(r.nextSvc, st.id+1)
	}
	used := map[uint32]bool{}
	for _, s := range slots {
		r.nextBackend = max(r.nextBackend, s.BackendID+1)
		st := byID[s.SvcID]
		if st == nil || s.Gen != st.gen || int(s.Slot) >= len(st.svc.Backends) {
			if err := r.w.DeleteSlot(s.SvcID, s.Gen, s.Slot); err != nil {
				return err
			}
			continue
		}
		b, ok := backends[s.BackendID]
		if !ok {
			return fmt.Errorf("service %s slot %d points at missing backend %d: remove the node's pins to start clean", st.svc.Key(), s.Slot, s.BackendID)
		}
		be := Backend{Addr: b.Addr, Port: b.Port}
		st.svc.Backends[s.Slot] = be
		st.ids[be] = s.BackendID
		used[s.BackendID] = true
	}
	for _, st := range r.state {
		if len(st.ids) != len(st.svc.Backends) {
			// Slots missing: forget the state so the next write rewrites it.
			slog.Warn("service entry has missing slots; it will be rewritten", "service", st.svc.Key())
			st.svc.Backends = nil
		}
	}
	for id := range backends {
		r.nextBackend = max(r.nextBackend, id+1)
		if !used[id] {
			if err := r.w.DeleteBackend(id); err != nil {
				return err
			}
		}
	}
	for _, t := range tables {
		st := byID[t[0]]
		if st == nil || st.svc.Algorithm != Maglev || uint32(st.gen) != t[1] {
			if err := r.w.DeleteMaglev(t[0], uint8(t[1])); err != nil {
				return err
			}
		}
	}
	return nil
}

// Services returns the services as last written, sorted by key.
func (r *Reconciler) Services() []Service {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	out := make([]Service, 0, len(r.state))
	for _, st := range r.state {
		s := st.svc
		s.Backends = slices.Clone(s.Backends)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return compareKey(a.Key(), b.Key()) })
	return out
}

func compareKey(a, b Key) int {
	if c := a.VIP.Compare(b.VIP); c != 0 {
		return c
	}
	if a.Port != b.Port {
		return int(a.Port) - int(b.Port)
	}
	return int(a.Protocol) - int(b.Protocol)
}

// Update makes the maps hold exactly services: new and changed ones are
// written, missing ones deleted. Invalid input is rejected whole.
func (r *Reconciler) Update(services []Service) error {
	ch := make(map[Key]*Service, len(services))
	for i := range services {
		s := services[i]
		if err := s.Validate(); err != nil {
			return err
		}
		if _, dup := ch[s.Key()]; dup {
			return fmt.Errorf("service %s listed twice: merge its backends into one entry", s.Key())
		}
		ch[s.Key()] = &s
	}
	return r.submit(ch, true)
}

// Upsert adds or changes one service.
func (r *Reconciler) Upsert(s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return r.submit(map[Key]*Service{s.Key(): &s}, false)
}

// Delete removes one service (a no-op if absent).
func (r *Reconciler) Delete(k Key) error {
	return r.submit(map[Key]*Service{k: nil}, false)
}

// submit merges changes into the open batch and waits until it is written.
// Calls arriving while a flush runs share the next flush (group commit), so
// a burst of N calls costs one pass over the union of their changes.
func (r *Reconciler) submit(changes map[Key]*Service, full bool) error {
	r.mu.Lock()
	b := r.batch
	if b == nil || full {
		if b != nil {
			// A full update supersedes everything queued before it.
			b.full = true
			b.changes = changes
		} else {
			b = &batch{changes: changes, full: full, done: make(chan struct{})}
			r.batch = b
		}
	} else {
		maps.Copy(b.changes, changes)
	}
	r.mu.Unlock()

	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	select {
	case <-b.done: // flushed by another caller
		return b.err
	default:
	}
	r.mu.Lock()
	r.batch = nil
	r.mu.Unlock()
	b.err = r.flush(b)
	r.flushes.Add(1)
	close(b.done)
	return b.err
}

// flush writes one batch. Phase 1 writes every changed service with its
// switch; phase 2, after GraceDelay, deletes what no entry references.
func (r *Reconciler) flush(b *batch) error {
	if b.full {
		for k := range r.state {
			if _, keep := b.changes[k]; !keep {
				b.changes[k] = nil
			}
		}
	}
	var errs []error
	var cleanup []func() error
	keys := slices.SortedFunc(maps.Keys(b.changes), compareKey)
	if bw, ok := r.w.(BatchWriter); ok {
		var fresh []Service
		rest := keys[:0:0]
		for _, k := range keys {
			if s := b.changes[k]; s != nil && r.state[k] == nil {
				fresh = append(fresh, *s)
			} else {
				rest = append(rest, k)
			}
		}
		if len(fresh) >= batchMin {
			if err := r.createBatch(bw, fresh); err != nil {
				errs = append(errs, err)
			}
			keys = rest
		}
	}
	for _, k := range keys {
		var c []func() error
		var err error
		if s := b.changes[k]; s != nil {
			c, err = r.writeService(*s)
		} else {
			c, err = r.deleteService(k)
		}
		cleanup = append(cleanup, c...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(cleanup) > 0 {
		time.Sleep(GraceDelay)
		for _, f := range cleanup {
			if err := f(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (st *svcState) same(s Service) bool {
	return st.svc.Affinity == s.Affinity && st.svc.Algorithm == s.Algorithm && slices.Equal(st.svc.Backends, s.Backends)
}

func (r *Reconciler) writeService(s Service) ([]func() error, error) {
	s.Backends = normalized(s.Backends)
	k := s.Key()
	old := r.state[k]
	if old != nil && old.same(s) {
		return nil, nil
	}
	st := &svcState{svc: s, ids: make(map[Backend]uint32, len(s.Backends))}
	if old == nil {
		st.id = r.nextSvc
		r.nextSvc++
	} else {
		st.id, st.gen = old.id, old.gen^1
	}
	// 1. Backends the service did not have yet.
	ids := make([]uint32, len(s.Backends))
	names := make([]string, len(s.Backends))
	var added []uint32
	written := 0
	// undo removes what this call wrote before failing (map full, ...),
	// so nothing half-written stays behind; the old entry is untouched.
	undo := func(err error) ([]func() error, error) {
		for i := 0; i < written; i++ {
			_ = r.w.DeleteSlot(st.id, st.gen, uint16(i))
		}
		if s.Algorithm == Maglev {
			_ = r.w.DeleteMaglev(st.id, st.gen)
		}
		for _, id := range added {
			_ = r.w.DeleteBackend(id)
		}
		return nil, fmt.Errorf("service %s: %w", k, err)
	}
	for i, be := range s.Backends {
		id, ok := uint32(0), false
		if old != nil {
			id, ok = old.ids[be]
		}
		if !ok {
			id = r.nextBackend
			r.nextBackend++
			if err := r.w.PutBackend(id, lb.Backend{Addr: be.Addr, Port: be.Port, ServiceID: st.id}); err != nil {
				return undo(err)
			}
			added = append(added, id)
		}
		st.ids[be] = id
		ids[i], names[i] = id, be.String()
	}
	// 2. Slots (and Maglev table) of the inactive generation.
	for i, id := range ids {
		if err := r.w.PutSlot(st.id, st.gen, uint16(i), id); err != nil {
			return undo(err)
		}
		written++
	}
	if s.Algorithm == Maglev {
		if err := r.w.PutMaglev(st.id, st.gen, lb.MaglevTable(names, ids)); err != nil {
			return undo(err)
		}
	}
	// 3. The switch: one atomic update of the service entry.
	e := lb.ServiceEntry{ID: st.id, Count: uint16(len(ids)), Gen: st.gen, Maglev: s.Algorithm == Maglev,
		Affinity: s.Affinity > 0, AffinityTimeout: s.Affinity}
	if err := r.w.PutService(lb.ServiceKey{VIP: k.VIP, Port: k.Port, Proto: uint8(k.Protocol)}, e); err != nil {
		return undo(err)
	}
	r.state[k] = st
	if old == nil {
		return nil, nil
	}
	// 4. After the grace delay: the old generation and dropped backends.
	var removed []uint32
	for be, id := range old.ids {
		if _, keep := st.ids[be]; !keep {
			removed = append(removed, id)
		}
	}
	return r.cleanupFuncs(old, removed), nil
}

func (r *Reconciler) cleanupFuncs(old *svcState, backends []uint32) []func() error {
	return []func() error{func() error {
		var errs []error
		for i := range old.svc.Backends {
			errs = append(errs, r.w.DeleteSlot(old.id, old.gen, uint16(i)))
		}
		if old.svc.Algorithm == Maglev {
			errs = append(errs, r.w.DeleteMaglev(old.id, old.gen))
		}
		for _, id := range backends {
			errs = append(errs, r.w.DeleteBackend(id))
		}
		return errors.Join(errs...)
	}}
}

func (r *Reconciler) deleteService(k Key) ([]func() error, error) {
	old := r.state[k]
	if old == nil {
		return nil, nil
	}
	if err := r.w.DeleteService(lb.ServiceKey{VIP: k.VIP, Port: k.Port, Proto: uint8(k.Protocol)}); err != nil {
		return nil, fmt.Errorf("delete service %s: %w", k, err)
	}
	delete(r.state, k)
	return r.cleanupFuncs(old, slices.Collect(maps.Values(old.ids))), nil
}
