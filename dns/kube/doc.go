// Package kube is the Kubernetes record source for the cluster DNS.
//
// It takes in a client-go clientset and watches Services and
// discovery.k8s.io/v1 EndpointSlices with shared informers, and puts out
// records.Service and records.EndpointSlice values to a records.Sink,
// calling MarkSynced once both caches have their initial listing. Objects
// are trimmed by an informer transform so the cache keeps only what DNS
// needs.
package kube
