// Package podbench is `make bench-pods`: pod start latency and agent memory
// on one real node.
//
// It takes a skiff binary, the test image archive (test/images/out/
// testapp.tar, from `make images`), a pod count (30) and a number of
// bursts (3). It starts `skiff server` and one `skiff agent` (with its own
// containerd) as child processes in a temporary directory, imports the
// image (so no pull is measured), warms the node up with one pod, then, per
// burst, creates the pods at once and watches them, and deletes them before
// the next. It puts out a Result: create → Running and create → Ready
// latency pooled over the bursts (p50, p99, max) and per burst, the CPU the
// bursts took per pod (the machine's, and the server's, agent's and
// containerd's parts of it), the agent's RSS idle, with every pod running,
// and its peak, and containerd's RSS; printed as a table and written as
// JSON (schema skiff-podbench/v2). Everything the agent made is removed at
// the end (internal/agentclean).
package podbench
