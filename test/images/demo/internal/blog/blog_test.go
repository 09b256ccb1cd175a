package blog

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/test/images/demo/internal/mysqld"
)

func TestMain(m *testing.M) {
	if err := mysqld.SetEngineLog(io.Discard, "warn"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var dbCfg = mysqld.Config{RootPassword: "rootpw", RootHost: "%", Database: "blog", User: "blog", Password: "blogpw"}

// startDB runs the demo database in-process on addr ("127.0.0.1:0" for any port).
func startDB(t *testing.T, addr string) *mysqld.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mysqld.Start(dbCfg, ln, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newApp(t *testing.T, dbAddr, version string) (*App, *httptest.Server) {
	t.Helper()
	host, port, _ := net.SplitHostPort(dbAddr)
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"DB_HOST": host, "DB_PORT": port, "DB_USER": "blog", "DB_PASSWORD": "blogpw", "DB_NAME": "blog"}[k]
	}, version)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxRetryInterval = 200 * time.Millisecond
	app, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() { srv.Close(); app.Close() })
	return app, srv
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// postForm posts v as a browser's form does (Accept: text/html).
func postForm(t *testing.T, u string, v url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitDB(t *testing.T, app *App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.WaitForDB(ctx); err != nil {
		t.Fatal(err)
	}
}

// The blog against the real demo database: create a post through the form,
// see it in the JSON API and on the page, and a ready health check.
func TestBlogAgainstDemoDatabase(t *testing.T) {
	db := startDB(t, "127.0.0.1:0")
	app, srv := newApp(t, db.Addr().String(), "v1")
	waitDB(t, app)

	if code, body := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d %q, want 200", code, body)
	}
	code, body := postForm(t, srv.URL+"/posts", url.Values{"title": {"Hello Skiff"}, "body": {"first <post>"}})
	if code != http.StatusSeeOther {
		t.Fatalf("POST /posts = %d %q, want 303", code, body)
	}
	resp, err := http.Post(srv.URL+"/api/posts", "application/json", strings.NewReader(`{"title":"Second","body":"by JSON"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/posts = %d, want 201", resp.StatusCode)
	}

	code, body = get(t, srv.URL+"/api/posts")
	if code != 200 {
		t.Fatalf("GET /api/posts = %d %q", code, body)
	}
	var posts []Post
	if err := json.Unmarshal([]byte(body), &posts); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	if len(posts) != 2 || posts[0].Title != "Second" || posts[1].Title != "Hello Skiff" || posts[1].Body != "first <post>" {
		t.Fatalf("posts = %+v, want Second then Hello Skiff", posts)
	}
	if posts[1].ID == 0 || posts[1].Created.IsZero() || time.Since(posts[1].Created) > time.Hour {
		t.Errorf("post lacks id or creation time: %+v", posts[1])
	}

	code, body = get(t, srv.URL+"/")
	if code != 200 || !strings.Contains(body, "Hello Skiff") || !strings.Contains(body, "first &lt;post&gt;") ||
		!strings.Contains(body, `<b id="version">v1</b>`) {
		t.Fatalf("GET / = %d, page lacks the post, escaping or version:\n%s", code, body)
	}
	if code, body := get(t, srv.URL+"/version"); code != 200 || body != "v1\n" {
		t.Fatalf("GET /version = %d %q", code, body)
	}
}

func TestBlogRejectsBadInput(t *testing.T) {
	db := startDB(t, "127.0.0.1:0")
	app, srv := newApp(t, db.Addr().String(), "v1")
	waitDB(t, app)
	for name, v := range map[string]url.Values{
		"no title":   {"body": {"x"}},
		"blank":      {"title": {"   "}},
		"long title": {"title": {strings.Repeat("t", maxTitle+1)}},
	} {
		if code, body := postForm(t, srv.URL+"/posts", v); code != http.StatusBadRequest {
			t.Errorf("%s: POST /posts = %d %q, want 400", name, code, body)
		}
	}
	resp, err := http.Post(srv.URL+"/api/posts", "application/json", strings.NewReader(`{"title":`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("truncated JSON = %d, want 400", resp.StatusCode)
	}
	if code, body := get(t, srv.URL+"/api/posts"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("after rejected posts: %d %q, want an empty list", code, body)
	}
}

// Readiness follows the database: 503 once it stops, 200 again when a new
// (empty) database appears at the same address, whose posts table the app
// recreates.
func TestHealthzFollowsDatabase(t *testing.T) {
	db := startDB(t, "127.0.0.1:0")
	addr := db.Addr().String()
	app, srv := newApp(t, addr, "v1")
	waitDB(t, app)
	if code, body := postForm(t, srv.URL+"/posts", url.Values{"title": {"lost soon"}}); code != http.StatusSeeOther {
		t.Fatalf("POST /posts = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d before the stop", code)
	}

	db.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz with the database stopped = %d %q, want 503", code, body)
	}
	if code, _ := get(t, srv.URL+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET / with the database stopped = %d, want 503", code)
	}

	startDB(t, addr)
	if code, body := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz after the database came back = %d %q, want 200", code, body)
	}
	if code, body := get(t, srv.URL+"/api/posts"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("posts after a database restart = %d %q, want [] (memory only)", code, body)
	}
	if code, body := postForm(t, srv.URL+"/posts", url.Values{"title": {"again"}}); code != http.StatusSeeOther {
		t.Fatalf("POST /posts after restart = %d %q", code, body)
	}
}

// The app starts before its database and waits for it.
func TestWaitForDBStartsBeforeDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	app, srv := newApp(t, addr, "v2")
	if code, _ := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz before the database exists = %d, want 503", code)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- app.WaitForDB(ctx)
	}()
	time.Sleep(300 * time.Millisecond) // let a few attempts fail
	startDB(t, addr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d after WaitForDB, want 200", code)
	}
	_, body := get(t, srv.URL+"/")
	if !strings.Contains(body, themeFor("v2").Title) || strings.Contains(body, "<h1>"+themeFor("v1").Title+"</h1>") {
		t.Fatalf("v2 page lacks its own header:\n%s", body)
	}
}

func TestWaitForDBGivesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	app, _ := newApp(t, addr, "v1")
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := app.WaitForDB(ctx); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("WaitForDB without a database: %v, want an error naming %s", err, addr)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(nil), "v1")
	if err != nil || c.Addr() != "mysql:3306" || c.User != "root" || c.Name != "blog" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"MYSQL_SERVICE_HOST": "10.96.0.7", "MYSQL_SERVICE_PORT": "3307"}), "v1")
	if err != nil || c.Addr() != "10.96.0.7:3307" {
		t.Fatalf("service env: %+v %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"DB_HOST": "db", "MYSQL_SERVICE_HOST": "10.96.0.7", "MYSQL_SERVICE_PORT": "3307"}), "v1")
	if err != nil || c.Addr() != "db:3306" {
		t.Fatalf("DB_HOST wins: %+v %v", c, err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{"DB_PORT": "http"}), "v1"); err == nil || !strings.Contains(err.Error(), "DB_PORT") {
		t.Fatalf("bad port: %v", err)
	}
}

func TestCheck(t *testing.T) {
	db := startDB(t, "127.0.0.1:0")
	app, srv := newApp(t, db.Addr().String(), "v1")
	ctx := context.Background()
	msg, err := Check(ctx, app.cfg)
	if err != nil || !strings.Contains(msg, "no posts table yet") || !strings.Contains(msg, " at "+db.Addr().String()+" as blog") {
		t.Fatalf("Check before the app ran: %q %v", msg, err)
	}
	waitDB(t, app)
	postForm(t, srv.URL+"/posts", url.Values{"title": {"one"}})
	if msg, err = Check(ctx, app.cfg); err != nil || !strings.HasSuffix(msg, ": 1 posts") {
		t.Fatalf("Check: %q %v", msg, err)
	}
	// A host name is shown with the addresses it resolved to.
	named := app.cfg
	named.Host = "localhost"
	if msg, err = Check(ctx, named); err != nil || !strings.Contains(msg, "127.0.0.1") || !strings.Contains(msg, "localhost:") {
		t.Fatalf("Check via localhost: %q %v", msg, err)
	}
	bad := app.cfg
	bad.Password = "wrong"
	if _, err := Check(ctx, bad); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Fatalf("Check with a wrong password: %v", err)
	}
}

// A command-line client (no text/html in Accept) gets 201 and a line of text,
// not a redirect that busybox wget would answer with a second POST.
func TestFormPostFromCommandLine(t *testing.T) {
	db := startDB(t, "127.0.0.1:0")
	app, srv := newApp(t, db.Addr().String(), "v1")
	waitDB(t, app)
	cli, err := noRedirect.PostForm(srv.URL+"/posts", url.Values{"title": {"From wget"}})
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := io.ReadAll(cli.Body)
	cli.Body.Close()
	if cli.StatusCode != http.StatusCreated || !strings.Contains(string(cb), "created post 1: From wget") {
		t.Fatalf("CLI POST /posts = %d %q, want 201", cli.StatusCode, cb)
	}
}
