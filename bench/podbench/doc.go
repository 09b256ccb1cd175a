// Package podbench is `make bench-pods`: pod start latency and agent memory
// on one real node.
//
// It takes a skiff binary, the test image archive (test/images/out/
// testapp.tar, from `make images`) and a pod count (30). It starts `skiff
// server` and one `skiff agent` (with its own containerd) as child processes
// in a temporary directory, imports the image (so no pull is measured),
// warms the node up with one pod, then creates the pods at once and watches
// them. It puts out a Result: create → Running and create → Ready latency
// (p50, p99, max), the agent's RSS idle, with every pod running, and its
// peak, and containerd's RSS; printed as a table and written as JSON
// (schema skiff-podbench/v1). Everything the agent made is removed at the
// end (internal/agentclean).
package podbench
