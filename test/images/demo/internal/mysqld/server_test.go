package mysqld

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startLoopback(t *testing.T, cfg Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(cfg, ln, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func open(t *testing.T, addr net.Addr, user, pw, db string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User, c.Passwd, c.DBName = "tcp", addr.String(), user, pw, db
	c.Timeout = 3 * time.Second
	conn, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	d := sql.OpenDB(conn)
	t.Cleanup(func() { d.Close() })
	return d
}

func accessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1045
}

func TestServerAccountsAndDatabase(t *testing.T) {
	s := startLoopback(t, Config{RootPassword: "rootpw", RootHost: "%", Database: "blog", User: "app", Password: `p'w\x`})
	ctx := context.Background()

	root := open(t, s.Addr(), "root", "rootpw", "")
	var ver string
	if err := root.QueryRowContext(ctx, "SELECT VERSION()").Scan(&ver); err != nil {
		t.Fatalf("root login: %v", err)
	}
	if !strings.HasPrefix(ver, "8.") {
		t.Errorf("VERSION() = %q, want a MySQL 8 version", ver)
	}
	var n int
	if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'blog'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("database blog: count=%d err=%v", n, err)
	}

	if err := open(t, s.Addr(), "root", "wrong", "").PingContext(ctx); !accessDenied(err) {
		t.Errorf("root with a wrong password: err = %v, want access denied", err)
	}
	if err := open(t, s.Addr(), "root", "", "").PingContext(ctx); !accessDenied(err) {
		t.Errorf("root without a password: err = %v, want access denied", err)
	}
	if err := open(t, s.Addr(), "nobody", "x", "").PingContext(ctx); err == nil {
		t.Error("an unknown user logged in")
	}
	for _, q := range []string{"CREATE DATABASE secret", "CREATE TABLE secret.t (id INT PRIMARY KEY)", "INSERT INTO secret.t VALUES (1)"} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("root: %s: %v", q, err)
		}
	}

	// The extra user (password with a quote and a backslash) owns database blog.
	app := open(t, s.Addr(), "app", `p'w\x`, "blog")
	if _, err := app.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatalf("app creates a table in blog: %v", err)
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (?, ?)", 1, "hello"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var v string
	if err := app.QueryRowContext(ctx, "SELECT v FROM t WHERE id = ?", 1).Scan(&v); err != nil || v != "hello" {
		t.Fatalf("select: v=%q err=%v", v, err)
	}
	if err := open(t, s.Addr(), "app", "wrong", "blog").PingContext(ctx); !accessDenied(err) {
		t.Errorf("app with a wrong password: err = %v, want access denied", err)
	}
	// ...and nothing else.
	if err := app.QueryRowContext(ctx, "SELECT COUNT(*) FROM secret.t").Scan(&n); err == nil {
		t.Error("app read a database outside its grant")
	}
}

func TestServerEmptyRootPassword(t *testing.T) {
	s := startLoopback(t, Config{AllowEmptyPassword: true, RootHost: "%"})
	if err := open(t, s.Addr(), "root", "", "").Ping(); err != nil {
		t.Fatalf("root without a password: %v", err)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	if _, err := Start(Config{Addr: "127.0.0.1:0"}, nil, quiet()); err == nil || !strings.Contains(err.Error(), "MYSQL_ROOT_PASSWORD") {
		t.Fatalf("err = %v, want a hint at MYSQL_ROOT_PASSWORD", err)
	}
}

// Close ends existing client connections too, as a dying process would.
func TestCloseDropsClients(t *testing.T) {
	s := startLoopback(t, Config{RootPassword: "pw", RootHost: "%"})
	db := open(t, s.Addr(), "root", "pw", "")
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping succeeded after Close")
	}
	if c, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Close")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Addr: addr, RootPassword: "pw", RootHost: "%"}, quiet()) }()
	db := open(t, ln.Addr(), "root", "pw", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := db.Ping(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("server on %s never answered: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	s, err := Start(Config{Addr: addr, RootPassword: "pw", RootHost: "%"}, nil, quiet())
	if err != nil {
		t.Fatalf("port %s not released after Run returned: %v", addr, err)
	}
	s.Close()
}
