package mysqlcli

import "strings"

// split cuts buf into complete statements ending in ';' (outside quotes and
// comments) and returns the unfinished rest. Comments are dropped; blank
// statements are skipped.
func split(buf string) (stmts []string, rest string) {
	var cur strings.Builder
	var quote rune // ', " or ` while inside a quoted string
	start := 0     // index in buf where cur's unflushed text begins
	flushTo := func(i int) { cur.WriteString(buf[start:i]) }
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		if quote != 0 {
			switch {
			case c == '\\' && quote != '`':
				i++
			case rune(c) == quote:
				quote = 0
			}
			continue
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			quote = rune(c)
		case c == '#' || (c == '-' && strings.HasPrefix(buf[i:], "--") && (i+2 == len(buf) || buf[i+2] == ' ' || buf[i+2] == '\t' || buf[i+2] == '\n')):
			end := strings.IndexByte(buf[i:], '\n')
			if end < 0 {
				// The comment runs to the end of the buffer: wait for more.
				flushTo(i)
				return stmts, cur.String()
			}
			flushTo(i)
			cur.WriteByte(' ')
			i += end
			start = i
		case c == '/' && strings.HasPrefix(buf[i:], "/*"):
			end := strings.Index(buf[i+2:], "*/")
			if end < 0 {
				flushTo(len(buf))
				return stmts, cur.String()
			}
			flushTo(i)
			cur.WriteByte(' ')
			i += 2 + end + 1
			start = i + 1
		case c == ';':
			flushTo(i)
			if s := strings.TrimSpace(cur.String()); s != "" {
				stmts = append(stmts, s)
			}
			cur.Reset()
			start = i + 1
		}
	}
	flushTo(len(buf))
	return stmts, cur.String()
}
