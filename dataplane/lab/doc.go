// Package lab builds a small service-load-balancing testbed from network
// namespaces: a client namespace, a node namespace where the bpf/lb program
// is attached on every interface, and N backend namespaces each running a
// TCP server (sends its name, then echoes) and a UDP server (answers with its
// name) on port 8080. Integration tests and `skiff dev demo` use it.
//
// In:  an nstest.Cleaner (which removes everything even on failure) and a
// backend count. Out: a *Lab with helpers to open the dataplane in the node
// namespace, build services and talk to a VIP from the client namespace.
//
// Addresses: client 10.1.0.2/24 via node 10.1.0.1; backend i is 10.2.i.2/24
// via 10.2.i.1 on node interface b<i>.
package lab
