package mysqld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/sirupsen/logrus"
)

// Server is a running database server.
type Server struct {
	ln   *trackingListener
	srv  *server.Server
	log  *slog.Logger
	done chan struct{}
	once sync.Once
}

// SetEngineLog sends go-mysql-server's own (logrus) log lines to w at the
// given level ("info", "warn", ...). The image's main calls it with stdout.
func SetEngineLog(w io.Writer, level string) error {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("log level %q: %w (use debug, info, warn or error)", level, err)
	}
	logrus.SetOutput(w)
	logrus.SetLevel(lvl)
	logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	return nil
}

// Start validates cfg, builds the in-memory engine with its accounts and
// database, and serves MySQL clients on ln (or on a new listener on cfg.Addr
// when ln is nil) until Close.
func Start(cfg Config, ln net.Listener, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("listen on %s: %w (is another server using the port?)", cfg.Addr, err)
		}
	}
	tl := &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	engine, pro, err := newEngine(cfg)
	if err != nil {
		tl.Close()
		return nil, err
	}
	srv, err := server.NewServer(server.Config{
		Protocol: "tcp",
		Address:  ln.Addr().String(),
		Listener: tl,
	}, engine, sql.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		tl.Close()
		return nil, fmt.Errorf("start MySQL protocol server: %w", err)
	}
	s := &Server{ln: tl, srv: srv, log: log, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Start() // returns once the listener is closed
	}()
	attrs := []any{"addr", ln.Addr().String(), "database", cfg.Database,
		"rootHost", cfg.RootHost, "emptyRootPassword", cfg.RootPassword == ""}
	if cfg.User != "" {
		attrs = append(attrs, "user", cfg.User)
	}
	log.Info("mysql demo server ready: data is not persistent (in memory, lost when the container stops)", attrs...)
	if cfg.RandomRootPassword {
		log.Info("generated root password", "password", cfg.RootPassword)
	}
	return s, nil
}

// Addr is the address the server accepts clients on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting clients, closes every client connection, and waits
// for the accept loop to end. All data is gone afterwards.
func (s *Server) Close() error {
	s.once.Do(func() {
		_ = s.srv.Close()
		s.ln.Close()
		<-s.done
		s.log.Info("mysql demo server stopped")
	})
	return nil
}

// Run starts the server and serves until ctx is cancelled (SIGTERM in the
// image), then closes it.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(cfg, nil, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "reason", context.Cause(ctx))
	case <-s.done:
		s.Close()
		return errors.New("the MySQL listener stopped unexpectedly")
	}
	return s.Close()
}

// newEngine makes the engine, root@localhost and root@RootHost, the
// database and the extra user.
func newEngine(cfg Config) (*sqle.Engine, *memory.DbProvider, error) {
	// Like the official image: LOAD DATA / SELECT INTO OUTFILE only under a
	// directory that does not exist here, so clients cannot read container files.
	if err := sql.SystemVariables.AssignValues(map[string]any{"secure_file_priv": "/var/lib/mysql-files"}); err != nil {
		return nil, nil, fmt.Errorf("set secure_file_priv: %w", err)
	}
	pro := memory.NewDBProvider()
	engine := sqle.NewDefault(pro)
	mdb := engine.Analyzer.Catalog.MySQLDb
	mdb.SetPersister(&mysql_db.NoopPersister{}) // accounts live in memory like the data
	ed := mdb.Editor()
	mdb.AddSuperUser(ed, "root", "localhost", cfg.RootPassword)
	if cfg.RootHost != "localhost" {
		mdb.AddSuperUser(ed, "root", cfg.RootHost, cfg.RootPassword)
	}
	ed.Close()

	sess := memory.NewSession(sql.NewBaseSessionWithClientServer("", sql.Client{User: "root", Address: "localhost"}, 0), pro)
	ctx := sql.NewContext(context.Background(), sql.WithSession(sess))
	var stmts []string
	if cfg.Database != "" {
		stmts = append(stmts, "CREATE DATABASE IF NOT EXISTS `"+cfg.Database+"`")
	}
	if cfg.User != "" {
		stmts = append(stmts, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", cfg.User, quote(cfg.Password)))
		if cfg.Database != "" {
			stmts = append(stmts, fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'", cfg.Database, cfg.User))
		}
	}
	for _, q := range stmts {
		if err := exec(ctx, engine, q); err != nil {
			return nil, nil, fmt.Errorf("initialise database (%s): %w", redact(q, cfg.Password), err)
		}
	}
	return engine, pro, nil
}

func exec(ctx *sql.Context, e *sqle.Engine, q string) error {
	_, iter, _, err := e.Query(ctx, q)
	if err != nil {
		return err
	}
	_, err = sql.RowIterToRows(ctx, iter)
	return err
}

// quote escapes s for a single-quoted SQL string literal.
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

func redact(q, secret string) string {
	if secret == "" {
		return q
	}
	return strings.ReplaceAll(q, quote(secret), "***")
}

// trackingListener remembers accepted connections so that Close can end
// them too: a stopped server then looks to clients like a dead process.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	err := l.Listener.Close()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
