// Package staticpods turns Pod manifest files on a node into mirror pods in
// the API, which the node's kubelet then runs.
//
// In: a directory (`skiff agent --pod-manifest-path`, default
// /etc/skiff/manifests; empty disables it) holding *.yaml, *.yml and *.json
// files, each with exactly one v1 Pod; a Kubernetes client with the node's
// identity; the node's name (and its UID, or the Node object to read it
// from). Dot-files and other extensions are ignored. The directory is read
// every few seconds (Config.Interval, default 3 s), so added, changed and
// removed files are picked up; a missing directory counts as empty.
//
// Out: for each good file, a mirror pod named <pod name>-<node name> in the
// file's namespace (default "default"), with spec.nodeName set to the node,
// the annotations kubernetes.io/config.source=file,
// kubernetes.io/config.hash=<hash of the file's pod> and
// kubernetes.io/config.mirror=<the same hash>, an ownerReference to the
// Node (v1 Node, controller false, so the pod goes when the Node goes) and a
// toleration of every NoExecute taint. The package keeps that set in step
// with the files:
//   - a new file creates its mirror pod;
//   - a changed file (different hash) deletes the old mirror pod with its
//     normal grace period and creates the new one once the old one is gone;
//   - a removed file deletes its mirror pod;
//   - a mirror pod deleted through the API while its file still exists is
//     created again once it is gone;
//   - mirror pods of this node with no file (for instance left from before
//     an agent restart) are deleted.
//
// Pods of this node are seen through a pod informer with the field selector
// spec.nodeName=<node>; only pods carrying the config.mirror annotation are
// ever deleted.
//
// Bad files never stop the agent: a file that does not parse, holds another
// kind or more than one object, has no metadata.name or no containers, or
// whose mirror name is not a valid pod name is logged with its path and
// skipped. If a file that was good turns bad, its last good version keeps
// running until the file is fixed or removed. Two files defining the same
// pod: the first in name order wins, the other is logged. API errors (a
// missing namespace, a refusal) are logged once per file and retried.
//
// The simplification against the Kubernetes kubelet: the API is the only
// channel. A static pod runs because its mirror pod is bound to this node
// and the skiff kubelet runs every pod bound to it, so static pods start
// only once the API server is reachable (Run waits for it), and deleting a
// mirror pod through the API stops the pod's containers before the new
// mirror pod starts them again. The API server's node authorization lets a
// node create only mirror pods bound to itself (no service account, Secret,
// ConfigMap or volume-claim references; owner only its own Node) and delete
// only pods bound to itself.
package staticpods
