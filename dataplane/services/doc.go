// Package services turns desired Services and their endpoints, as plain Go
// values (no Kubernetes types), into the bpf/lb maps.
//
// In:  []Service{VIP, Port, Protocol, Backends []Backend{Addr, Port},
// Affinity (0 = none, else ClientIP affinity timeout), Algorithm (Random |
// Maglev)}.
// Out: service, slot, backend and Maglev map entries in the kernel.
//
// A Reconciler keeps the last written state and writes only what changed
// (O(changed) map operations). Update replaces the whole desired set; Upsert
// and Delete change single services. Calls coalesce: every call made while a
// write pass is running joins the next pass (group commit, see Flushes) and
// returns when its change is in the maps. Invalid input (Validate) is
// rejected before anything is written. When one pass creates many new
// services (initial sync), they are written with batched map updates
// (BatchWriter) in the same safe order: 10 000 services in ~70 ms here
// (BenchmarkProgram10k).
//
// Write order never shows a half-written service to a packet: new backends
// are written first, then the service's backend slots into the inactive of
// two slot generations (plus its Maglev table), then one update of the
// service entry flips the generation and count (the atomic switch), and only
// after GraceDelay (1 ms, once per batch) are old slots and removed backends
// deleted. Backend ids are per service, so a removed endpoint's id vanishes
// and the program moves UDP flows off it at once. Service and backend IDs
// are restored from the pinned maps when a Reconciler starts, so a restarted
// agent keeps them (and leftovers of an interrupted write are removed).
//
// Example (dp from dataplane/loader):
//
//	rec, err := services.NewReconciler(dp.Maps())
//	err = rec.Update([]services.Service{{
//		VIP: netip.MustParseAddr("10.96.0.10"), Port: 80, Protocol: services.TCP,
//		Backends: []services.Backend{{Addr: netip.MustParseAddr("10.0.1.2"), Port: 8080}},
//	}})
package services
