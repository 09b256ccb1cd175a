// Package memtarget keeps a daemon's memory near a target by steering the
// Go garbage collector's soft memory limit.
//
// In: a base target in bytes (a flag such as `skiff server
// --memory-target`), the GOMEMLIMIT environment variable, and the live
// heap the runtime reports after each collection (runtime/metrics).
// Out: the runtime's soft memory limit (debug.SetMemoryLimit), set to the
// larger of the base target and the live heap plus a headroom of a
// quarter, re-evaluated every few seconds, and a log line when it changes
// a lot.
//
// With the default GOGC the heap may grow to twice the live data before a
// collection; for a control plane whose live heap is 100–150 MiB that is
// 150 MiB of garbage held as RSS. Under the target the collector runs
// earlier instead, trading some CPU for memory. The headroom keeps that
// trade bounded when the live data outgrows the target (a large cluster):
// the limit then rises with it, so the collector never runs back to back.
// A GOMEMLIMIT set by the operator wins; a target of 0 turns steering off.
package memtarget
