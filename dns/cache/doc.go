// Package cache holds forwarded DNS responses.
//
// It takes in upstream responses keyed by question and puts out copies with
// their TTLs aged. Positive answers live for their smallest TTL, negative
// answers (NXDOMAIN and NODATA) for the SOA minimum (RFC 2308), both capped.
// After expiry an entry stays for a stale window so the server can answer
// from it when every upstream fails (serve-stale, RFC 8767). Memory is
// bounded by a maximum entry count; inserts over the bound evict.
package cache
