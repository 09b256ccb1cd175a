// Package daemonset is Skiff's DaemonSet controller.
//
// It takes DaemonSets, Nodes and Pods from a shared informer factory and
// keeps exactly one pod of each DaemonSet on every eligible node. A node is
// eligible when it matches spec.template's nodeSelector and required node
// affinity and every NoSchedule/NoExecute taint on it is tolerated (the
// template's tolerations plus the ones DaemonSet pods always get:
// not-ready, unreachable, disk/memory/pid-pressure, unschedulable). Pods are
// bound directly with spec.nodeName; pods on ineligible or missing nodes,
// duplicates and failed pods are deleted. Template changes roll out under
// the RollingUpdate strategy (maxUnavailable, default 1; pods carry the
// template hash in label controller-revision-hash) or wait for manual
// deletion under OnDelete. It puts out status desiredNumberScheduled,
// currentNumberScheduled, numberMisscheduled, numberReady, numberAvailable,
// numberUnavailable, updatedNumberScheduled and observedGeneration.
//
// Use: c := daemonset.New(client, factory, recorder); factory.Start(stop);
// go c.Run(ctx, workers). recorder may be nil.
package daemonset
