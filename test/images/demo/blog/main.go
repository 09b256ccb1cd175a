package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/skiffnet/skiff/test/images/demo/internal/blog"
)

// version is set with -ldflags "-X main.version=v1".
var version = "dev"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if len(os.Args) > 1 {
		os.Exit(command(os.Args[1:]))
	}
	if err := run(log); err != nil {
		log.Error("blog failed", "err", err)
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// command runs `blog dbcheck` (reach the database once and describe it) or
// `blog version`.
func command(args []string) int {
	switch args[0] {
	case "version", "--version":
		fmt.Println(version)
		return 0
	case "dbcheck", "check":
		cfg, err := blog.ConfigFromEnv(os.Getenv, version)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var msg string
			if msg, err = blog.Check(ctx, cfg); err == nil {
				fmt.Println(msg)
				return 0
			}
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "usage: blog [dbcheck | version]\n  without arguments: serve HTTP on LISTEN_ADDR (default :8080)\n  dbcheck: connect to the database from DB_* / MYSQL_SERVICE_* and describe it\nunknown command %q\n", args[0])
	return 2
}

func run(log *slog.Logger) error {
	cfg, err := blog.ConfigFromEnv(os.Getenv, version)
	if err != nil {
		return err
	}
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	if err := blog.SetDriverLog(log); err != nil {
		return err
	}
	app, err := blog.New(cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	srv := &http.Server{Addr: addr, Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("blog listening", "addr", addr, "version", version, "db", cfg.Addr(), "dbUser", cfg.User, "dbName", cfg.Name)
	// The pod starts before the database: wait for it in the background;
	// /healthz stays 503 until it answers.
	go func() { _ = app.WaitForDB(ctx) }()

	select {
	case err := <-errc:
		return fmt.Errorf("HTTP server on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "reason", context.Cause(ctx))
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
