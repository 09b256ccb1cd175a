// Package containerd runs the node's container runtime for the Skiff agent.
//
// In: a data directory (and optionally a socket path and binary).
// Out: a supervised containerd process — Debian's /usr/bin/containerd with
// runc — using a config generated under DATA/containerd (its own root, state,
// gRPC and ttrpc sockets, cgroupfs, CRI plugin disabled), restarted with
// back-off if it dies and re-adopted if the agent restarts while it runs; a
// containerd Go client in the "skiff" namespace; and Import/ListImages, which
// load OCI or docker-archive tarballs offline and unpack them for runc.
//
// Pulls: a Puller takes an image name (normalised as Kubernetes does:
// "nginx" is docker.io/library/nginx:latest), registry credentials (from
// imagePullSecrets, see ParseDockerConfig) and a RegistryConfig (from
// --registry-config FILE and --insecure-registry HOST:PORT, see
// RegistryFlags), and puts out the image in containerd's store, fetched with
// containerd's docker resolver for one platform and unpacked into the
// snapshotter, logging progress (layers, bytes) with slog. Loopback
// registries are reached over plain HTTP; configured mirrors are tried
// before the registry. A failed pull is a *PullError whose message says
// what to do (imagePullSecrets, --insecure-registry, or `skiff image import`).
package containerd
