package records

import (
	"strings"
)

// dnsExtractAddress turns a reverse name (d.c.b.a.in-addr.arpa. or the 32
// nibbles of ip6.arpa.) into an address string; it returns "" for anything
// that is not a complete reverse name.
func dnsExtractAddress(lname string) string {
	if v4, ok := strings.CutSuffix(lname, ".in-addr.arpa."); ok {
		parts := strings.Split(v4, ".")
		if len(parts) != 4 {
			return ""
		}
		for i, j := 0, 3; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
		return strings.Join(parts, ".")
	}
	if v6, ok := strings.CutSuffix(lname, ".ip6.arpa."); ok {
		nib := strings.Split(v6, ".")
		if len(nib) != 32 {
			return ""
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(nib[i]) != 1 {
				return ""
			}
			b.WriteString(nib[i])
			if i%4 == 0 && i != 0 {
				b.WriteByte(':')
			}
		}
		return b.String()
	}
	return ""
}
