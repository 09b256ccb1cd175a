// Package ociimage writes container image archives without Docker.
//
// In: a list of files per layer (in-memory data, host files, directories,
// symlinks) and an image config (entrypoint, env, labels, ports).
// Out: one tar stream holding an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) plus a docker-archive manifest.json, so that
// `ctr import`, containerd's Go client Import and `docker load` accept it.
// Layers are gzip-compressed tars with fixed timestamps, so the same inputs
// always give the same digests. Verify reads such an archive back and checks
// every digest, size and diff_id.
package ociimage
