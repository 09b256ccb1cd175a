package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestLoopbackPortCanBeListenedOn(t *testing.T) {
	p, err := Loopback()
	if err != nil || p <= 0 {
		t.Fatalf("Loopback() = %d, %v", p, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}
