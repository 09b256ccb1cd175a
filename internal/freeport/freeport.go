// Package freeport finds an unused TCP port on loopback.
//
// In: nothing. Out: a port number that was free on 127.0.0.1 a moment ago,
// for daemons that must be given a port on the command line (the embedded
// etcd, test and benchmark servers).
//
// Ports come from 20000–29999, outside the kernel's ephemeral range
// (net.ipv4.ip_local_port_range) and below the NodePort range. A port the
// kernel handed out for "port 0" could be handed out again, to another
// listener or to an outgoing connection, before its daemon binds it; a port
// outside that range is never handed out by the kernel, so only another
// freeport caller could take it first, and within one process never does.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

const (
	rangeLow  = 20000
	rangeHigh = 29999
	attempts  = 200
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Loopback returns a TCP port that was free on 127.0.0.1 a moment ago and
// that this process has not handed out before.
func Loopback() (int, error) {
	lo, hi := ephemeralRange()
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < attempts; i++ {
		p := rangeLow + rand.IntN(rangeHigh-rangeLow+1)
		if handed[p] || (p >= lo && p <= hi) {
			continue
		}
		if free(p) {
			handed[p] = true
			return p, nil
		}
	}
	// The configured ephemeral range covers ours, or it is crowded: let the
	// kernel choose.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	handed[p] = true
	return p, nil
}

func free(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralRange reads the kernel's range for automatically chosen ports;
// Linux's default is used when it cannot be read.
func ephemeralRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768, 60999
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768, 60999
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return 32768, 60999
	}
	return lo, hi
}
