// Package hollow simulates nodes for testing and benchmarking the control
// plane without containers, in the spirit of Kubemark's hollow nodes.
//
// It takes a client-go clientset and a node count. It puts out, per
// simulated node: a Node object (capacity/allocatable, Ready condition,
// addresses, node info, label skiff.io/hollow=true), a Lease in
// kube-node-lease renewed every heartbeat interval, and periodic node status
// updates that also bring a node back to Ready after the node lifecycle
// controller marked it Unknown.
//
// Pods the scheduler binds to these nodes are reported Running and Ready
// with container statuses and a pod IP from the node's spec.podCIDR (or,
// when the server assigned none, a /24 out of 100.64.0.0/10). Pods with a
// deletionTimestamp are finished off with a grace-period-0 delete, as a
// kubelet does after stopping containers. No process is ever started.
package hollow
