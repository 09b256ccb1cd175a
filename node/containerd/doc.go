// Package containerd runs the node's container runtime for the Skiff agent.
//
// In: a data directory (and optionally a socket path and binary).
// Out: a supervised containerd process — Debian's /usr/bin/containerd with
// runc — using a config generated under DATA/containerd (its own root, state,
// gRPC and ttrpc sockets, cgroupfs, CRI plugin disabled), restarted with
// back-off if it dies and re-adopted if the agent restarts while it runs; a
// containerd Go client in the "skiff" namespace; and Import/ListImages, which
// load OCI or docker-archive tarballs offline and unpack them for runc.
package containerd
