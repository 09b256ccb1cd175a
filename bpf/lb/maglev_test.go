package lb

import (
	"fmt"
	"testing"
)

func TestMaglevTable(t *testing.T) {
	names := func(n int) ([]string, []uint32) {
		var ns []string
		var ids []uint32
		for i := 0; i < n; i++ {
			ns = append(ns, fmt.Sprintf("10.0.0.%d:8080", i+1))
			ids = append(ids, uint32(100+i))
		}
		return ns, ids
	}
	n10, id10 := names(10)
	a := MaglevTable(n10, id10)
	if len(a) != MaglevSize {
		t.Fatalf("table size %d", len(a))
	}
	// Order-independent and balanced (Maglev's guarantee: within ~1 entry
	// of M/N per backend... allow a small margin).
	rn, rid := append([]string{}, n10...), append([]uint32{}, id10...)
	for i, j := 0, len(rn)-1; i < j; i, j = i+1, j-1 {
		rn[i], rn[j] = rn[j], rn[i]
		rid[i], rid[j] = rid[j], rid[i]
	}
	b := MaglevTable(rn, rid)
	count := map[uint32]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("entry %d differs with input order: %d vs %d", i, a[i], b[i])
		}
		count[a[i]]++
	}
	for id, c := range count {
		if c < MaglevSize/10-10 || c > MaglevSize/10+10 {
			t.Fatalf("backend %d holds %d of %d entries", id, c, MaglevSize)
		}
	}
	// Removing one backend moves its entries and few others.
	c := MaglevTable(n10[1:], id10[1:])
	moved := 0
	for i := range a {
		if a[i] != id10[0] && a[i] != c[i] {
			moved++
		}
	}
	if moved > MaglevSize/10 {
		t.Fatalf("%d entries of surviving backends moved", moved)
	}
	if z := MaglevTable(nil, nil); z[0] != 0 || len(z) != MaglevSize {
		t.Fatal("empty table not zero")
	}
}
