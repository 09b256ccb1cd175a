package mysqlcli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// options are the parsed command line.
type options struct {
	host, port, user, database string
	password                   string
	passwordSet, askPassword   bool
	execute                    []string
	skipNames, batch, table    bool
	connectTimeout             time.Duration
	version, help              bool
}

const usage = `usage: mysql [-h HOST] [-P PORT] [-u USER] [-pPASSWORD | -p] [-e STATEMENTS] [-N] [-B] [-t] [DATABASE]
  -h, --host=HOST          server host (default MYSQL_HOST or localhost, over TCP)
  -P, --port=PORT          server port (default MYSQL_TCP_PORT or 3306)
  -u, --user=USER          user (default root)
  -pPASSWORD, --password=PASSWORD
                           password; -p alone asks for it; MYSQL_PWD is used otherwise
  -D, --database=DB        default database (or give it as the last argument)
  -e, --execute=STMTS      run the statements and exit
  -N, --skip-column-names  no header line
  -B, --batch              tab-separated output (the default when stdin is not a terminal)
  -t, --table              ASCII table output
  --connect-timeout=SECS   give up connecting after SECS seconds (default 10)`

// parseArgs understands the mysql client's short options with attached or
// separate values (-uroot, -u root), long options with '=' or a separate
// value, and -p whose value must be attached.
func parseArgs(args []string, getenv func(string) string) (options, error) {
	o, positional, err := parseOptions(args, getenv)
	if err != nil {
		return o, err
	}
	switch len(positional) {
	case 0:
	case 1:
		o.database = positional[0]
	default:
		return o, fmt.Errorf("too many arguments %q: give at most one database", positional)
	}
	return o, nil
}

// parseOptions parses the options and returns the other arguments.
func parseOptions(args []string, getenv func(string) string) (options, []string, error) {
	o := options{host: "localhost", port: "3306", user: "root", connectTimeout: 10 * time.Second}
	// The official client's environment defaults.
	if h := getenv("MYSQL_HOST"); h != "" {
		o.host = h
	}
	if p := getenv("MYSQL_TCP_PORT"); p != "" {
		o.port = p
	}
	if pw := getenv("MYSQL_PWD"); pw != "" {
		o.password, o.passwordSet = pw, true
	}
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func(name, attached string) (string, error) {
			if attached != "" {
				return attached, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			attached := ""
			if hasVal {
				attached = val
			}
			switch name {
			case "host":
				o.host, err = value(a, attached)
			case "port":
				o.port, err = value(a, attached)
			case "user":
				o.user, err = value(a, attached)
			case "database":
				o.database, err = value(a, attached)
			case "execute":
				var s string
				s, err = value(a, attached)
				o.execute = append(o.execute, s)
			case "password":
				if hasVal {
					o.password, o.passwordSet = val, true
				} else {
					o.askPassword = true
				}
			case "connect-timeout", "connect_timeout":
				var s string
				if s, err = value(a, attached); err == nil {
					var n int
					if n, err = strconv.Atoi(s); err != nil || n <= 0 {
						err = fmt.Errorf("--connect-timeout %q: want a number of seconds", s)
					}
					o.connectTimeout = time.Duration(n) * time.Second
				}
			case "skip-column-names":
				o.skipNames = true
			case "batch":
				o.batch = true
			case "table":
				o.table = true
			case "version":
				o.version = true
			case "help":
				o.help = true
			case "protocol":
				var s string
				if s, err = value(a, attached); err == nil && !strings.EqualFold(s, "tcp") {
					err = fmt.Errorf("--protocol=%s: only TCP is supported", s)
				}
			case "silent", "force", "no-auto-rehash", "auto-rehash", "comments", "skip-ssl", "ssl-mode", "default-character-set":
				// Accepted for compatibility; they change nothing here.
				if name == "ssl-mode" || name == "default-character-set" {
					_, err = value(a, attached)
				}
			default:
				err = fmt.Errorf("unknown option %s", a)
			}
		case len(a) >= 2 && a[0] == '-':
			flag, attached := a[1], a[2:]
			switch flag {
			case 'h':
				o.host, err = value("-h", attached)
			case 'P':
				o.port, err = value("-P", attached)
			case 'u':
				o.user, err = value("-u", attached)
			case 'D':
				o.database, err = value("-D", attached)
			case 'e':
				var s string
				s, err = value("-e", attached)
				o.execute = append(o.execute, s)
			case 'p':
				if attached != "" {
					o.password, o.passwordSet = attached, true
				} else {
					o.askPassword = true
				}
			case 'N', 'B', 't', 's', 'V', '?', 'f', 'A':
				for _, c := range a[1:] {
					switch c {
					case 'N':
						o.skipNames = true
					case 'B':
						o.batch = true
					case 't':
						o.table = true
					case 'V':
						o.version = true
					case '?':
						o.help = true
					case 's', 'f', 'A':
					default:
						err = fmt.Errorf("unknown option -%c in %s", c, a)
					}
				}
			default:
				err = fmt.Errorf("unknown option %s", a)
			}
		default:
			positional = append(positional, a)
		}
		if err != nil {
			return o, nil, err
		}
	}
	if p, err := strconv.Atoi(o.port); err != nil || p < 1 || p > 65535 {
		return o, nil, fmt.Errorf("port %q is not a number from 1 to 65535", o.port)
	}
	return o, positional, nil
}
