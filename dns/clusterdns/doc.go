// Package clusterdns is the server side of Skiff's cluster DNS.
//
// It takes a client of the API server, the cluster DNS IP (10.96.0.10 by
// default) and the address this `skiff server` is reached on. It puts out:
//
//   - the Service kube-system/kube-dns (ClusterIP = the cluster DNS IP, ports
//     53/UDP "dns" and 53/TCP "dns-tcp", no selector), created if absent, so
//     the IP is reserved and every node's dataplane knows it;
//   - a DNS server (dns/server with the dns/kube source) answering on
//     <advertise>:53;
//   - this server's address in the Endpoints kube-system/kube-dns (merged
//     with other servers' addresses, removed again on a clean shutdown),
//     which the endpoints controller mirrors to an EndpointSlice.
//
// Pods normally never reach these endpoints: each agent answers on its own
// node-local address and its eBPF program steers pod queries for the
// cluster DNS IP there without conntrack. When an agent's DNS is down the
// steering stops and the ordinary Service path takes queries to these
// endpoints instead, which is the fallback path.
package clusterdns
