// Package freeport finds an unused TCP port on loopback.
//
// In: nothing. Out: a port number the kernel just handed out for
// 127.0.0.1 and released at once, for daemons that must be given a port on
// the command line (the embedded etcd, test and benchmark servers). Another
// process may take it first; callers retry or fail with a clear error.
package freeport

import (
	"fmt"
	"net"
)

// Loopback returns a TCP port that was free on 127.0.0.1 a moment ago.
func Loopback() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
