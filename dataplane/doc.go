// Package dataplane groups the node-side Go that turns desired state into
// kernel state: loader (load, pin, attach, re-adopt the bpf/lb program) and
// services (desired Services -> lb maps). This package itself holds only the
// network-namespace integration tests that drive both with real traffic.
package dataplane
