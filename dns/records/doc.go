// Package records keeps Skiff's in-memory index of cluster DNS records and
// answers questions from it.
//
// It takes in Services and EndpointSlices (in its own small types, pushed by a
// Source through the Sink methods) and puts out DNS answers following the
// Kubernetes DNS-based service discovery specification: A/AAAA for services,
// headless endpoints and pods, SRV for named ports, PTR for ClusterIPs and
// endpoint IPs, CNAME for ExternalName services and the dns-version TXT
// record. It decides NXDOMAIN versus NODATA, answers SERVFAIL until the
// source has synced, and tells the caller when a name lies outside the
// cluster zone so it can be forwarded.
package records
