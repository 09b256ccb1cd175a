// Package benchproc runs Skiff daemons as child processes for benchmarks:
// `skiff server` on a free loopback port with a temporary data directory,
// and `skiff agent` joined to it with a token. It takes the skiff binary
// and a directory; it puts out running processes with admin clients, their
// resident memory read from /proc, and a Stop that ends them.
package benchproc
