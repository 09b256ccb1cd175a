package mysqlcli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

const adminUsage = `usage: mysqladmin [-h HOST] [-P PORT] [-u USER] [-pPASSWORD] [--connect-timeout=SECS] COMMAND...
commands:
  ping     exit 0 if the server answers (even if it refuses the login), 1 if not
  status   print uptime, threads and questions
  version  print the server version`

// Admin is a small mysqladmin for probes such as
// `livenessProbe: exec: command: ["mysqladmin", "ping"]`: like the real one,
// ping succeeds whenever the server answers, even if it refuses the login.
func Admin(args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = func(string) string { return "" }
	}
	o, cmds, err := parseOptions(args, stdio.Getenv)
	if err == nil && len(cmds) == 0 && !o.help {
		err = errors.New("no command given")
	}
	if err != nil {
		fmt.Fprintf(stdio.Err, "mysqladmin: %v\n%s\n", err, adminUsage)
		return 2
	}
	if o.help {
		fmt.Fprintln(stdio.Out, adminUsage)
		return 0
	}
	c := &client{o: o, io: stdio}
	ctx := context.Background()
	cerr := c.connect(ctx)
	var me *mysql.MySQLError
	refused := cerr != nil && (!errors.As(cerr, &me) || me.Number == 2003)
	if cerr == nil {
		defer c.close()
	}
	for _, cmd := range cmds {
		switch strings.ToLower(cmd) {
		case "ping":
			if refused {
				fmt.Fprintf(stdio.Err, "mysqladmin: connect to server at '%s' failed\n", c.addr())
				c.printErr(cerr)
				return 1
			}
			fmt.Fprintln(stdio.Out, "mysqld is alive")
		case "status", "version":
			if cerr != nil {
				c.printErr(cerr)
				return 1
			}
			q := "SELECT VERSION()"
			if cmd == "status" {
				q = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Uptime', 'Threads_connected', 'Questions')"
			}
			c.table = false
			c.o.skipNames = cmd == "version"
			if err := c.run(ctx, q); err != nil {
				c.printErr(err)
				return 1
			}
		default:
			fmt.Fprintf(stdio.Err, "mysqladmin: unknown command %q\n%s\n", cmd, adminUsage)
			return 2
		}
	}
	return 0
}
