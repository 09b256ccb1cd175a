// Package dpbench is the `make bench` harness: it measures Skiff's eBPF
// service dataplane against the direct path, kube-proxy's iptables layout
// (legacy and nf_tables backends) and kube-proxy's nftables layout, on one
// network-namespace topology, back to back within each repetition.
//
// In:  a Config (service counts, repetitions, measurement durations, the
// modes to run).
// Out: a Results value (per mode, service count and metric: every sample,
// median, min, max and ratio to direct within the same repetition), printed
// as a table, written as JSON (schema in bench/README.md) and drawn as a PNG
// chart. Modes that cannot run on this machine are reported as missing with
// the reason; no number is ever invented.
//
// Topology (every name carries one nstest prefix; all of it is removed at
// the end, on error and on SIGINT/SIGTERM): a client namespace with one
// interface per mode, one router namespace per mode, and backend namespaces
// linked to every router. Each mode owns a client subnet and a VIP range, so
// the client's routing table picks the router, and backends route replies
// back by the client subnet. The rule generators (iptables.go, nft.go) are
// pure functions and are unit-tested without root.
package dpbench
