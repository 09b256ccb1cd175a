package blog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// App is the blog: its database handle and HTTP routes.
type App struct {
	cfg Config
	st  *store
	log *slog.Logger
	mux *http.ServeMux
}

// Limits on user input.
const (
	maxTitle = 200
	maxBody  = 64 << 10
)

// New prepares the app; it does not contact the database (WaitForDB does).
func New(cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.MaxRetryInterval == 0 {
		cfg.MaxRetryInterval = 8 * time.Second
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, st: st, log: log, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /{$}", a.index)
	a.mux.HandleFunc("POST /posts", a.createForm)
	a.mux.HandleFunc("GET /api/posts", a.listJSON)
	a.mux.HandleFunc("POST /api/posts", a.createJSON)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /version", a.versionz)
	return a, nil
}

// Handler serves the app's routes.
func (a *App) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Blog-Version", a.cfg.Version)
		if a.cfg.Hostname != "" {
			w.Header().Set("X-Served-By", a.cfg.Hostname)
		}
		a.mux.ServeHTTP(w, r)
	})
}

// WaitForDB retries the database with back-off until the posts table exists
// or ctx ends. The HTTP server runs meanwhile; /healthz says 503 until then.
func (a *App) WaitForDB(ctx context.Context) error {
	return a.st.waitForDB(ctx, a.cfg.Addr(), a.cfg.MaxRetryInterval, a.log)
}

// Close closes the database pool.
func (a *App) Close() error { return a.st.db.Close() }

func (a *App) dbError(w http.ResponseWriter, what string, err error) {
	a.log.Warn(what+" failed", "err", err)
	http.Error(w, fmt.Sprintf("database unavailable (%s at %s): %v\ncheck the mysql pod and Service, then retry",
		what, a.cfg.Addr(), err), http.StatusServiceUnavailable)
}

func (a *App) index(w http.ResponseWriter, r *http.Request) {
	posts, err := a.st.list(r.Context())
	if err != nil {
		a.dbError(w, "list posts", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := renderIndex(w, a.cfg, posts); err != nil {
		a.log.Warn("render page", "err", err)
	}
}

func validate(title, body string) error {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return errors.New("title is required")
	case utf8.RuneCountInString(title) > maxTitle:
		return fmt.Errorf("title is longer than %d characters", maxTitle)
	case len(body) > maxBody:
		return fmt.Errorf("body is larger than %d bytes", maxBody)
	case !utf8.ValidString(title) || !utf8.ValidString(body):
		return errors.New("title and body must be UTF-8 text")
	}
	return nil
}

func (a *App) createForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody+4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	title, body := r.PostForm.Get("title"), r.PostForm.Get("body")
	if err := validate(title, body); err != nil {
		http.Error(w, err.Error()+" (send form fields title and body)", http.StatusBadRequest)
		return
	}
	p, err := a.st.create(r.Context(), strings.TrimSpace(title), body)
	if err != nil {
		a.dbError(w, "create post", err)
		return
	}
	a.log.Info("post created", "id", p.ID, "title", p.Title)
	// Browsers go back to the list; command-line clients (wget, curl) get
	// a plain answer: busybox wget would repeat the POST on a redirect.
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "created post %d: %s\n", p.ID, p.Title)
}

func (a *App) createJSON(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "send Content-Type: application/json with {\"title\":...,\"body\":...}", http.StatusUnsupportedMediaType)
		return
	}
	var in struct{ Title, Body string }
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		http.Error(w, "bad JSON: "+err.Error()+` (want {"title":"...","body":"..."})`, http.StatusBadRequest)
		return
	}
	if err := validate(in.Title, in.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := a.st.create(r.Context(), strings.TrimSpace(in.Title), in.Body)
	if err != nil {
		a.dbError(w, "create post", err)
		return
	}
	a.log.Info("post created", "id", p.ID, "title", p.Title)
	writeJSON(w, http.StatusCreated, p)
}

func (a *App) listJSON(w http.ResponseWriter, r *http.Request) {
	posts, err := a.st.list(r.Context())
	if err != nil {
		a.dbError(w, "list posts", err)
		return
	}
	writeJSON(w, http.StatusOK, posts)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// healthz answers 200 only when the database answers a ping and the posts
// table exists, so a readiness probe reflects database reachability.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.st.health(ctx); err != nil {
		http.Error(w, fmt.Sprintf("database %s unreachable: %v", a.cfg.Addr(), err), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (a *App) versionz(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, a.cfg.Version)
}

// Check connects once, as the running app would, and describes the database
// it reached: `kubectl exec deploy/blog -- blog dbcheck` shows that the web
// pod reaches MySQL through its Service (DB_HOST and the address it resolves
// to, the ClusterIP in Kubernetes).
func Check(ctx context.Context, cfg Config) (string, error) {
	st, err := openStore(cfg)
	if err != nil {
		return "", err
	}
	defer st.db.Close()
	where := cfg.Addr()
	if ips, err := net.DefaultResolver.LookupHost(ctx, cfg.Host); err == nil && !(len(ips) == 1 && ips[0] == cfg.Host) {
		where += " (" + strings.Join(ips, ", ") + ")"
	}
	var ver string
	var n int
	if err := st.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&ver); err != nil {
		return "", fmt.Errorf("database %s as %s: %w", where, cfg.User, err)
	}
	if err := st.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM posts").Scan(&n); err != nil {
		return fmt.Sprintf("connected to MySQL %s at %s as %s, database %s (no posts table yet: %v)", ver, where, cfg.User, cfg.Name, err), nil
	}
	return fmt.Sprintf("connected to MySQL %s at %s as %s, database %s: %d posts", ver, where, cfg.User, cfg.Name, n), nil
}
