package mysqlcli

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/test/images/demo/internal/mysqld"
)

func TestMain(m *testing.M) {
	if err := mysqld.SetEngineLog(io.Discard, "warn"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func TestSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		rest string
	}{
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}, ""},
		{"SELECT 'a;b'; SELECT \"c;\" ;", []string{"SELECT 'a;b'", `SELECT "c;"`}, ""},
		{"SELECT 'it\\'s;' ; x", []string{`SELECT 'it\'s;'`}, " x"},
		{"SELECT 1 -- no; end\n; SELECT 2 # also; not\n;", []string{"SELECT 1", "SELECT 2"}, ""},
		{"SELECT /* ; */ 3;;", []string{"SELECT   3"}, ""},
		{"CREATE TABLE `a;b` (x INT);", []string{"CREATE TABLE `a;b` (x INT)"}, ""},
		{"SELECT 1", nil, "SELECT 1"},
		{"SELECT 'open;", nil, "SELECT 'open;"},
		{"SELECT a-1;", []string{"SELECT a-1"}, ""},
	}
	for _, tc := range cases {
		got, rest := split(tc.in)
		if !reflect.DeepEqual(got, tc.want) || rest != tc.rest {
			t.Errorf("split(%q) = %q, rest %q; want %q, rest %q", tc.in, got, rest, tc.want, tc.rest)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-h", "mysql", "-ppassword", "-uapp", "--port=3307", "-N", "-e", "SELECT 1", "blog"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if o.host != "mysql" || o.password != "password" || !o.passwordSet || o.user != "app" || o.port != "3307" ||
		!o.skipNames || len(o.execute) != 1 || o.database != "blog" {
		t.Fatalf("got %+v", o)
	}
	o, err = parseArgs([]string{"--host=db", "--user", "u", "--password=x y", "-D", "d"}, func(k string) string { return map[string]string{"MYSQL_PWD": "env"}[k] })
	if err != nil || o.host != "db" || o.user != "u" || o.password != "x y" || o.database != "d" {
		t.Fatalf("long options: %+v %v", o, err)
	}
	o, _ = parseArgs(nil, func(k string) string { return map[string]string{"MYSQL_PWD": "env"}[k] })
	if o.password != "env" || o.host != "localhost" || o.port != "3306" || o.user != "root" {
		t.Fatalf("defaults with MYSQL_PWD: %+v", o)
	}
	o, _ = parseArgs([]string{"-P", "1"}, func(k string) string {
		return map[string]string{"MYSQL_HOST": "db", "MYSQL_TCP_PORT": "3307"}[k]
	})
	if o.host != "db" || o.port != "1" {
		t.Fatalf("MYSQL_HOST/MYSQL_TCP_PORT defaults, -P wins: %+v", o)
	}
	o, _ = parseArgs([]string{"-p"}, func(string) string { return "" })
	if !o.askPassword {
		t.Fatal("-p alone should ask for the password")
	}
	for _, bad := range [][]string{{"-x"}, {"--bogus"}, {"-h"}, {"-P", "http"}, {"a", "b"}} {
		if _, err := parseArgs(bad, func(string) string { return "" }); err == nil {
			t.Errorf("parseArgs(%q) accepted", bad)
		}
	}
}

func startDB(t *testing.T) (host, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := mysqld.Start(mysqld.Config{RootPassword: "password", RootHost: "%", Database: "blog"}, ln, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	host, port, _ = net.SplitHostPort(s.Addr().String())
	return host, port
}

func runCLI(stdin string, interactive bool, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Interactive: interactive})
	return code, out.String(), errb.String()
}

// The tutorial's client step against the real demo database.
func TestClientAgainstDemoDatabase(t *testing.T) {
	host, port := startDB(t)
	code, out, errs := runCLI("", false, "-h", host, "-P", port, "-ppassword", "blog", "-e",
		"CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a\tb'), (2, NULL); SELECT id, v FROM t ORDER BY id")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if want := "id\tv\n1\ta\\tb\n2\tNULL\n"; out != want {
		t.Fatalf("batch output %q, want %q", out, want)
	}

	// Statements from stdin, table format, no header.
	code, out, errs = runCLI("USE blog;\nSELECT v\n FROM t WHERE id = 1;\nSELECT COUNT(*) AS n FROM t", false,
		"-h", host, "-P", port, "--password=password", "-t")
	if code != 0 {
		t.Fatalf("stdin: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "| a\tb |") || !strings.Contains(out, "| n |") || !strings.Contains(out, "| 2 |") {
		t.Fatalf("table output:\n%s", out)
	}

	// Interactive: prompts, row counts, errors do not end the session.
	code, out, errs = runCLI("SELECT nope FROM t;\nSELECT 1 AS one;\nexit\n", true, "-h", host, "-P", port, "-ppassword", "blog")
	if code != 1 || !strings.Contains(out, "mysql> ") || !strings.Contains(out, "1 row in set") || !strings.Contains(errs, "ERROR ") {
		t.Fatalf("interactive: exit %d\nout:\n%s\nerr:\n%s", code, out, errs)
	}

	// A SQL error in batch mode stops with status 1.
	code, _, errs = runCLI("SELECT * FROM missing; SELECT 1;", false, "-h", host, "-P", port, "-ppassword", "blog")
	if code != 1 || !strings.HasPrefix(errs, "ERROR 1146 ") {
		t.Fatalf("missing table: exit %d, stderr %q", code, errs)
	}
}

func TestClientErrors(t *testing.T) {
	host, port := startDB(t)
	code, _, errs := runCLI("", false, "-h", host, "-P", port, "-pwrong", "-e", "SELECT 1")
	if code != 1 || !strings.HasPrefix(errs, "ERROR 1045 (28000)") {
		t.Fatalf("wrong password: exit %d, stderr %q", code, errs)
	}
	// -p alone reads the password from stdin when not on a terminal.
	code, out, errs := runCLI("password\n", false, "-h", host, "-P", port, "-p", "-N", "-e", "SELECT 7")
	if code != 0 || out != "7\n" {
		t.Fatalf("-p from stdin: exit %d, out %q, stderr %q", code, out, errs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, deadPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	code, _, errs = runCLI("", false, "-h", "127.0.0.1", "-P", deadPort, "-ppassword", "-e", "SELECT 1")
	if code != 1 || !strings.HasPrefix(errs, "ERROR 2003 (HY000): Can't connect to MySQL server on '127.0.0.1:"+deadPort+"'") {
		t.Fatalf("no server: exit %d, stderr %q", code, errs)
	}
	if code, _, errs := runCLI("", false, "--bogus"); code != 2 || !strings.Contains(errs, "unknown option --bogus") {
		t.Fatalf("bad option: exit %d, stderr %q", code, errs)
	}
}

func runAdmin(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Admin(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// mysqladmin ping, as liveness probes use it: alive even with a refused
// login, dead when nothing listens.
func TestAdminPing(t *testing.T) {
	host, port := startDB(t)
	for _, pw := range []string{"-ppassword", "-pwrong"} {
		if code, out, errs := runAdmin("-h", host, "-P", port, pw, "ping"); code != 0 || out != "mysqld is alive\n" {
			t.Errorf("ping %s: exit %d, out %q, err %q", pw, code, out, errs)
		}
	}
	if code, out, errs := runAdmin("-h", host, "-P", port, "-ppassword", "version"); code != 0 || !strings.HasPrefix(out, "8.") {
		t.Errorf("version: exit %d, out %q, err %q", code, out, errs)
	}
	if code, out, errs := runAdmin("-h", host, "-P", port, "-ppassword", "status"); code != 0 || !strings.Contains(out, "Uptime\t") {
		t.Errorf("status: exit %d, out %q, err %q", code, out, errs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, deadPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	if code, _, errs := runAdmin("-h", "127.0.0.1", "-P", deadPort, "ping"); code != 1 || !strings.Contains(errs, "ERROR 2003") {
		t.Errorf("ping without a server: exit %d, err %q", code, errs)
	}
	if code, _, _ := runAdmin("-h", host, "-P", port); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}
