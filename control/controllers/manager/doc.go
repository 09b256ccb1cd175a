// Package manager runs every Skiff controller and the scheduler in one
// process, behind a Lease-based leader election, so several `skiff server`
// processes can share one etcd and only one of them acts.
//
// It takes a *rest.Config (or a kubernetes.Interface) and Options. It puts
// out nothing itself: while it holds the coordination.k8s.io/v1 Lease
// kube-system/skiff-controller-manager it builds one shared informer
// factory and runs the endpoints, node lifecycle, deployment, replicaset,
// daemonset, job, garbage collector, namespace, serviceaccount and rootca
// (kube-root-ca.crt, given Options.RootCA or the client configuration's CA)
// controllers plus the scheduler on it; when the Lease is lost they all stop
// and it campaigns again.
package manager
