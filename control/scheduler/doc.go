// Package scheduler assigns pending pods to nodes.
//
// It takes in Pods and Nodes from shared informers (client-go, so it works
// against Skiff's API server or any Kubernetes API) and puts out pods/binding
// requests plus Events: "Scheduled" when a pod is bound and
// "FailedScheduling" with a per-node reason summary when none fits.
//
// A pod is placed in three steps:
//   - filters drop nodes that cannot run it: node not Ready or unschedulable,
//     resource requests above what is left of allocatable (counting pods
//     already bound or assumed), nodeSelector, required node affinity,
//     untolerated NoSchedule/NoExecute taints and host port conflicts;
//   - scores rank the rest: least allocated, balanced CPU/memory use and
//     spreading pods of one controller across nodes;
//   - the best node is assumed in the cache at once (so the next pod sees the
//     capacity as used) and the binding is written asynchronously.
//
// Unschedulable pods wait in a side queue and go back to the active queue
// when a node is added or changes in a way that matters, or when a bound
// pod goes away, and at the latest after a minute.
package scheduler
