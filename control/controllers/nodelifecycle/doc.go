// Package nodelifecycle watches node heartbeats and evicts pods from nodes
// that went silent.
//
// It takes in Nodes, Leases in kube-node-lease and Pods from shared
// informers. A heartbeat is any change of the node's Lease renewTime or of
// the Ready condition's lastHeartbeatTime, timed on the controller's own
// (injectable) clock so clock skew between machines does not matter.
//
// It puts out:
//   - node status: Ready (and the pressure conditions) set to Unknown with
//     reason NodeStatusUnknown once no heartbeat arrived for the grace
//     period (40 s by default), and Ready=True again when Lease renewals
//     resume on a node this controller had marked Unknown;
//   - taints: node.kubernetes.io/unreachable (Ready Unknown) or
//     node.kubernetes.io/not-ready (Ready False), each as NoSchedule and
//     NoExecute with timeAdded, removed once the node is Ready; and
//     node.kubernetes.io/{memory,disk,pid}-pressure NoSchedule while the
//     matching pressure condition is True;
//   - pods on such nodes: Ready condition set False, then deleted once their
//     NoExecute tolerations run out. A pod that has no toleration for these
//     two taints is treated as tolerating them for 300 s, as the
//     DefaultTolerationSeconds admission plugin would have given it.
//   - Events NodeNotReady on the node and TaintManagerEviction on pods.
package nodelifecycle
