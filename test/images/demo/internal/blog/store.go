package blog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Post is one blog post.
type Post struct {
	ID      int64     `json:"id"`
	Title   string    `json:"title"`
	Body    string    `json:"body"`
	Created time.Time `json:"created_at"`
}

const schema = `CREATE TABLE IF NOT EXISTS posts (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	title VARCHAR(200) NOT NULL,
	body TEXT NOT NULL,
	created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

// MySQL's "table doesn't exist": the database restarted and lost its data.
const errNoSuchTable = 1146

type store struct {
	db    *sql.DB
	ready atomic.Bool // posts table known to exist
}

func openStore(c Config) (*store, error) {
	conn, err := mysql.NewConnector(c.driverConfig())
	if err != nil {
		return nil, fmt.Errorf("database settings: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxLifetime(time.Minute)
	return &store{db: db}, nil
}

// ensure creates the posts table unless it is known to exist.
func (s *store) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return err
	}
	s.ready.Store(true)
	return nil
}

// do runs fn with the table in place; if the table vanished (a database
// restart loses the in-memory data) it recreates it and retries once.
func (s *store) do(ctx context.Context, fn func() error) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	err := fn()
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errNoSuchTable {
		s.ready.Store(false)
		if err := s.ensure(ctx); err != nil {
			return err
		}
		err = fn()
	}
	return err
}

func (s *store) list(ctx context.Context) ([]Post, error) {
	posts := []Post{}
	err := s.do(ctx, func() error {
		posts = posts[:0]
		rows, err := s.db.QueryContext(ctx, "SELECT id, title, body, created_at FROM posts ORDER BY id DESC")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p Post
			if err := rows.Scan(&p.ID, &p.Title, &p.Body, &p.Created); err != nil {
				return err
			}
			posts = append(posts, p)
		}
		return rows.Err()
	})
	return posts, err
}

func (s *store) create(ctx context.Context, title, body string) (Post, error) {
	var p Post
	err := s.do(ctx, func() error {
		res, err := s.db.ExecContext(ctx, "INSERT INTO posts (title, body) VALUES (?, ?)", title, body)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		return s.db.QueryRowContext(ctx, "SELECT id, title, body, created_at FROM posts WHERE id = ?", id).
			Scan(&p.ID, &p.Title, &p.Body, &p.Created)
	})
	return p, err
}

// health pings the database and makes sure the table exists.
func (s *store) health(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		s.ready.Store(false)
		return err
	}
	return s.ensure(ctx)
}

// waitForDB retries until the table exists or ctx ends, doubling the pause
// from 500ms up to max and logging every attempt.
func (s *store) waitForDB(ctx context.Context, addr string, max time.Duration, log *slog.Logger) error {
	pause := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.health(actx)
		cancel()
		if err == nil {
			log.Info("database ready; posts table in place", "addr", addr, "attempt", attempt)
			return nil
		}
		log.Warn("database not reachable yet; retrying", "addr", addr, "attempt", attempt, "retryIn", pause.String(), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for the database at %s after %d attempts: %w", addr, attempt, err)
		case <-time.After(pause):
		}
		pause = min(pause*2, max)
	}
}

// SetDriverLog sends the MySQL driver's own messages (such as "closing bad
// idle connection") to log instead of stderr.
func SetDriverLog(log *slog.Logger) error {
	return mysql.SetLogger(driverLog{log})
}

type driverLog struct{ l *slog.Logger }

func (d driverLog) Print(v ...any) {
	d.l.Warn("mysql driver", "msg", strings.TrimSpace(fmt.Sprint(v...)))
}
