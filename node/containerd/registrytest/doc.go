// Package registrytest runs a real OCI distribution registry in-process for
// tests (go-containerregistry's registry on a loopback port, optionally
// behind HTTP Basic authentication) and pushes image archives into it.
//
// In: an OCI image layout tarball (as internal/ociimage and `make images`
// write) and the repository:tag names to push its images under.
// Out: a registry host "127.0.0.1:PORT" serving those images through the
// /v2/ API, pushed with the distribution protocol's blob uploads and
// manifest PUTs, plus a count of the requests it served.
package registrytest
