package lb

import (
	"hash/fnv"
	"slices"
)

// MaglevTable builds a Maglev lookup table (Eisenbud et al., NSDI 2016) of
// MaglevSize entries over backends, each named by a stable string (e.g.
// "10.0.1.2:8080") and mapped to its id. Equal inputs give equal tables, and
// removing one backend moves only the entries that pointed at it (plus a
// small fraction). An empty input gives a table of zeros.
func MaglevTable(names []string, ids []uint32) []uint32 {
	m := uint64(MaglevSize)
	table := make([]uint32, m)
	n := len(names)
	if n == 0 {
		return table
	}
	// Sort by name so the result does not depend on input order.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if names[a] < names[b] {
			return -1
		}
		if names[a] > names[b] {
			return 1
		}
		return 0
	})
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	for j, i := range order {
		offset[j] = hash64(names[i], 0x9e37) % m
		skip[j] = hash64(names[i], 0x7f4a)%(m-1) + 1
	}
	filled := make([]bool, m)
	for placed := uint64(0); ; {
		for j := range order {
			c := (offset[j] + next[j]*skip[j]) % m
			for filled[c] {
				next[j]++
				c = (offset[j] + next[j]*skip[j]) % m
			}
			table[c] = ids[order[j]]
			filled[c] = true
			next[j]++
			placed++
			if placed == m {
				return table
			}
		}
	}
}

func hash64(s string, seed uint16) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte{byte(seed), byte(seed >> 8)})
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}
