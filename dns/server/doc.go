// Package server is Skiff's cluster DNS server.
//
// It takes in a Config and a records.Source (the Kubernetes informer source
// in production, an in-memory one in tests and benchmarks) and puts out DNS
// answers on UDP and TCP listeners: cluster names from the record index,
// everything else forwarded upstream through a response cache. It also
// serves Prometheus metrics (queries, response codes, cache hits, latency).
// An agent embeds it with New(cfg, source) and Serve(ctx).
package server
