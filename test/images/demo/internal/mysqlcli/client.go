package mysqlcli

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// IO is what the client reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	Getenv   func(string) string
	// Interactive means In is a terminal: prompts and ASCII tables.
	Interactive bool
	// ReadPassword reads a password without echo; nil reads a line from In.
	ReadPassword func() (string, error)
}

// Version is printed by --version.
const Version = "mysql (skiff demo client) 1.0"

// Main runs the client with args (without the program name) and returns the
// exit status.
func Main(args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = func(string) string { return "" }
	}
	o, err := parseArgs(args, stdio.Getenv)
	if err != nil {
		fmt.Fprintf(stdio.Err, "mysql: %v\n%s\n", err, usage)
		return 2
	}
	if o.help {
		fmt.Fprintln(stdio.Out, usage)
		return 0
	}
	if o.version {
		fmt.Fprintln(stdio.Out, Version)
		return 0
	}
	in := bufio.NewReader(stdio.In)
	if o.askPassword {
		if stdio.Interactive && stdio.ReadPassword != nil {
			fmt.Fprint(stdio.Err, "Enter password: ")
			o.password, err = stdio.ReadPassword()
			fmt.Fprintln(stdio.Err)
		} else {
			o.password, err = in.ReadString('\n')
			if errors.Is(err, io.EOF) {
				err = nil
			}
			o.password = strings.TrimRight(o.password, "\r\n")
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "mysql: read password: %v\n", err)
			return 1
		}
	}

	c := &client{o: o, io: stdio, table: o.table || (stdio.Interactive && !o.batch)}
	ctx := context.Background()
	if err := c.connect(ctx); err != nil {
		c.printErr(err)
		return 1
	}
	defer c.close()

	if len(o.execute) > 0 {
		stmts, rest := split(strings.Join(o.execute, ";\n") + ";")
		if strings.TrimSpace(rest) != "" {
			stmts = append(stmts, strings.TrimSpace(rest))
		}
		for _, s := range stmts {
			if err := c.run(ctx, s); err != nil {
				c.printErr(err)
				return 1
			}
		}
		return 0
	}
	return c.repl(ctx, in)
}

type client struct {
	o     options
	io    IO
	table bool
	db    *sql.DB
	conn  *sql.Conn
}

func (c *client) addr() string {
	host := c.o.host
	if host == "localhost" {
		host = "127.0.0.1" // no Unix socket in this image: use TCP
	}
	return net.JoinHostPort(host, c.o.port)
}

func (c *client) connect(ctx context.Context) error {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "tcp", c.addr(), c.o.user, c.o.password, c.o.database
	cfg.Timeout = c.o.connectTimeout
	cfg.AllowNativePasswords = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	c.db = sql.OpenDB(conn)
	c.db.SetMaxOpenConns(1)
	if c.conn, err = c.db.Conn(ctx); err == nil {
		err = c.conn.PingContext(ctx)
	}
	if err != nil {
		c.db.Close()
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			return err
		}
		return &mysql.MySQLError{Number: 2003, SQLState: [5]byte{'H', 'Y', '0', '0', '0'},
			Message: fmt.Sprintf("Can't connect to MySQL server on '%s' (%v)", c.addr(), err)}
	}
	return nil
}

func (c *client) close() {
	c.conn.Close()
	c.db.Close()
}

func (c *client) printErr(err error) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		fmt.Fprintf(c.io.Err, "ERROR %d (%s): %s\n", me.Number, string(me.SQLState[:]), me.Message)
		return
	}
	fmt.Fprintf(c.io.Err, "ERROR: %v\n", err)
}

// repl reads statements from in until EOF, "exit" or "quit".
func (c *client) repl(ctx context.Context, in *bufio.Reader) int {
	if c.io.Interactive {
		var ver string
		_ = c.conn.QueryRowContext(ctx, "SELECT VERSION()").Scan(&ver)
		fmt.Fprintf(c.io.Out, "Connected to %s as %s, server version %s. End statements with ';', leave with exit.\n", c.addr(), c.o.user, ver)
	}
	status := 0
	var buf string
	for {
		if c.io.Interactive {
			if strings.TrimSpace(buf) == "" {
				fmt.Fprint(c.io.Out, "mysql> ")
			} else {
				fmt.Fprint(c.io.Out, "    -> ")
			}
		}
		line, err := in.ReadString('\n')
		if strings.TrimSpace(buf) == "" {
			switch strings.TrimRight(strings.ToLower(strings.TrimSpace(line)), ";") {
			case "exit", "quit", `\q`:
				return status
			}
		}
		buf += line
		stmts, rest := split(buf)
		buf = rest
		if err != nil && strings.TrimSpace(buf) != "" {
			stmts = append(stmts, strings.TrimSpace(buf)) // last statement without ';'
			buf = ""
		}
		for _, s := range stmts {
			if rerr := c.run(ctx, s); rerr != nil {
				c.printErr(rerr)
				if !c.io.Interactive {
					return 1
				}
				status = 1
			}
		}
		if err != nil {
			if c.io.Interactive {
				fmt.Fprintln(c.io.Out, "Bye")
			}
			return status
		}
	}
}

// run executes one statement and prints its result set, if any.
func (c *client) run(ctx context.Context, stmt string) error {
	start := time.Now()
	rows, err := c.conn.QueryContext(ctx, stmt)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var data [][]string
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]string, len(cols))
		for i, v := range raw {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		data = append(data, row)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	took := time.Since(start).Seconds()
	switch {
	case len(cols) == 0:
		if c.table {
			fmt.Fprintf(c.io.Out, "Query OK (%.2f sec)\n", took)
		}
	case c.table:
		writeTable(c.io.Out, cols, data, c.o.skipNames)
		if c.io.Interactive {
			fmt.Fprintf(c.io.Out, "%d row%s in set (%.2f sec)\n", len(data), plural(len(data)), took)
		}
	default:
		writeBatch(c.io.Out, cols, data, c.o.skipNames)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

var batchEscaper = strings.NewReplacer("\\", `\\`, "\t", `\t`, "\n", `\n`, "\x00", `\0`)

func writeBatch(w io.Writer, cols []string, data [][]string, skipNames bool) {
	line := func(fields []string) {
		esc := make([]string, len(fields))
		for i, f := range fields {
			esc[i] = batchEscaper.Replace(f)
		}
		fmt.Fprintln(w, strings.Join(esc, "\t"))
	}
	if !skipNames {
		line(cols)
	}
	for _, r := range data {
		line(r)
	}
}

func writeTable(w io.Writer, cols []string, data [][]string, skipNames bool) {
	width := make([]int, len(cols))
	for i, c := range cols {
		width[i] = len([]rune(c))
	}
	for _, r := range data {
		for i, f := range r {
			width[i] = max(width[i], len([]rune(f)))
		}
	}
	var sep strings.Builder
	sep.WriteByte('+')
	for _, n := range width {
		sep.WriteString(strings.Repeat("-", n+2) + "+")
	}
	line := func(fields []string) {
		var b strings.Builder
		b.WriteByte('|')
		for i, f := range fields {
			b.WriteString(" " + f + strings.Repeat(" ", width[i]-len([]rune(f))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintln(w, sep.String())
	if !skipNames {
		line(cols)
		fmt.Fprintln(w, sep.String())
	}
	for _, r := range data {
		line(r)
	}
	fmt.Fprintln(w, sep.String())
}
