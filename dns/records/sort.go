package records

import "slices"

// sortEps orders endpoints by label then address so answers are stable.
func sortEps(eps []epRec) {
	slices.SortFunc(eps, func(a, b epRec) int {
		if a.label != b.label {
			if a.label < b.label {
				return -1
			}
			return 1
		}
		return a.addr.Compare(b.addr)
	})
}
