package services

import (
	"errors"
	"fmt"

	"github.com/skiffnet/skiff/bpf/lb"
)

// BatchWriter is optionally implemented by a Writer to create many new
// services with few syscalls (*lb.Maps does, with BPF_MAP_UPDATE_BATCH).
type BatchWriter interface {
	PutBackends(ids []uint32, bs []lb.Backend) error
	PutSlots(slots []lb.SlotRecord) error
	PutServices(recs []lb.ServiceRecord) error
}

// batchMin is the number of new services in one pass from which they are
// created with batched writes.
const batchMin = 64

// createBatch creates services that do not exist yet, in the same safe
// order as writeService (backends, slots and Maglev tables, then the entries)
// but with one batched write per map.
func (r *Reconciler) createBatch(bw BatchWriter, svcs []Service) error {
	var bids []uint32
	var bes []lb.Backend
	var slots []lb.SlotRecord
	recs := make([]lb.ServiceRecord, len(svcs))
	states := make([]*svcState, len(svcs))
	for i, s := range svcs {
		s.Backends = normalized(s.Backends)
		st := &svcState{id: r.nextSvc, svc: s, ids: make(map[Backend]uint32, len(s.Backends))}
		r.nextSvc++
		for j, be := range s.Backends {
			id := r.nextBackend
			r.nextBackend++
			st.ids[be] = id
			bids = append(bids, id)
			bes = append(bes, lb.Backend{Addr: be.Addr, Port: be.Port, ServiceID: st.id})
			slots = append(slots, lb.SlotRecord{SvcID: st.id, Slot: uint16(j), BackendID: id})
		}
		states[i] = st
		recs[i] = lb.ServiceRecord{
			Key: lb.ServiceKey{VIP: s.VIP, Port: s.Port, Proto: uint8(s.Protocol)},
			Entry: lb.ServiceEntry{ID: st.id, Count: uint16(len(s.Backends)), Maglev: s.Algorithm == Maglev,
				Affinity: s.Affinity > 0, AffinityTimeout: s.Affinity},
		}
	}
	undoAll := func(err error) error {
		for _, st := range states {
			_ = r.cleanupFuncs(st, idsOf(st))[0]()
		}
		return err
	}
	if err := bw.PutBackends(bids, bes); err != nil {
		return undoAll(err)
	}
	if err := bw.PutSlots(slots); err != nil {
		return undoAll(err)
	}
	for _, st := range states {
		if st.svc.Algorithm != Maglev {
			continue
		}
		ids := make([]uint32, len(st.svc.Backends))
		names := make([]string, len(st.svc.Backends))
		for j, be := range st.svc.Backends {
			ids[j], names[j] = st.ids[be], be.String()
		}
		if err := r.w.PutMaglev(st.id, 0, lb.MaglevTable(names, ids)); err != nil {
			return undoAll(fmt.Errorf("service %s: %w", st.svc.Key(), err))
		}
	}
	if err := bw.PutServices(recs); err == nil {
		for _, st := range states {
			r.state[st.svc.Key()] = st
		}
		return nil
	}
	// A batch can fail part-way: redo the entries one by one to learn
	// exactly which exist, and undo the rest.
	var errs []error
	for i, st := range states {
		if err := r.w.PutService(recs[i].Key, recs[i].Entry); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", st.svc.Key(), err))
			_ = r.cleanupFuncs(st, idsOf(st))[0]()
			continue
		}
		r.state[st.svc.Key()] = st
	}
	return errors.Join(errs...)
}

func idsOf(st *svcState) []uint32 {
	out := make([]uint32, 0, len(st.ids))
	for _, id := range st.ids {
		out = append(out, id)
	}
	return out
}
