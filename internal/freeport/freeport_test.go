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

func TestLoopbackAvoidsEphemeralRangeAndRepeats(t *testing.T) {
	lo, hi := ephemeralRange()
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		p, err := Loopback()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if lo <= rangeLow && hi >= rangeHigh {
			continue // ranges overlap entirely: the kernel chose
		}
		if p >= lo && p <= hi {
			t.Fatalf("port %d is inside the ephemeral range %d-%d", p, lo, hi)
		}
	}
}
