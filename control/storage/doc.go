// Package storage keeps Kubernetes objects in etcd.
//
// In: an etcd v3 client (an embedded etcd started by StartEmbedded under a
// data directory, or external endpoints with TLS via Connect), a
// runtime.Codec, and typed objects. Out: objects stored under
// /registry/<resource>/<namespace>/<name> whose metadata.resourceVersion is
// the etcd mod revision of their key; lists at one revision with filters and
// limit/continue paging (the continue token encodes revision and next key);
// optimistic-concurrency updates and deletes (ErrConflict when the stored
// revision moved); and watches from a revision that report ErrCompacted when
// the revision is gone, so callers can answer 410 Gone / Expired.
package storage
