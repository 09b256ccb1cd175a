// Package controlbench is `make bench-control`: it measures the control plane
// with hollow nodes and no containers.
//
// It takes a skiff binary and a shape (nodes, Deployments, replicas). It
// starts `skiff server` as its own process in a temporary data directory,
// registers hollow nodes (control/hollow) in this process, creates the
// Deployments and watches pods until every replica is bound to a node. It
// puts out a Result: pods scheduled and bound per second, p50/p99 latency of
// create, list and watch delivery, and the server's RSS (current and peak,
// read from /proc), printed as a table and written as JSON (schema
// skiff-controlbench/v1, see bench/README.md).
package controlbench
