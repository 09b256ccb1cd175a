package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/skiffnet/skiff/test/images/demo/internal/mysqlcli"
	"github.com/skiffnet/skiff/test/images/demo/internal/mysqld"
)

func main() {
	// Called as "mysql" or "mysqladmin" (links in /usr/bin): the clients.
	switch filepath.Base(os.Args[0]) {
	case "mysql", "mysqladmin":
		os.Exit(client(filepath.Base(os.Args[0]), os.Args[1:]))
	}
	args := os.Args[1:]
	// Like the official image's entrypoint: a first argument that is not an
	// option and not "mysqld" is a command to run instead of the server, e.g.
	// `kubectl run ... --image=docker.io/skiff/mysql:v1 -- mysql -h mysql -p...`.
	if len(args) > 0 && args[0] == "mysqld" {
		args = args[1:]
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] == "mysql" || args[0] == "mysqladmin" {
			os.Exit(client(args[0], args[1:]))
		}
		os.Exit(execCommand(args))
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	if len(args) > 0 {
		log.Warn("ignoring mysqld options: this demo server is configured with MYSQL_* environment variables only", "options", args)
	}
	if err := serve(log); err != nil {
		log.Error("mysql demo server failed", "err", err)
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func serve(log *slog.Logger) error {
	cfg, err := mysqld.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if a := os.Getenv("MYSQL_LISTEN_ADDR"); a != "" {
		cfg.Addr = a
	}
	level := os.Getenv("MYSQL_LOG_LEVEL")
	if level == "" {
		level = "warn"
	}
	if err := mysqld.SetEngineLog(os.Stdout, level); err != nil {
		return fmt.Errorf("MYSQL_LOG_LEVEL: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return mysqld.Run(ctx, cfg, log)
}

func client(name string, args []string) int {
	fd := int(os.Stdin.Fd())
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	stdio := mysqlcli.IO{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv,
		Interactive:  err == nil,
		ReadPassword: func() (string, error) { return readNoEcho(fd) },
	}
	if name == "mysqladmin" {
		return mysqlcli.Admin(args, stdio)
	}
	return mysqlcli.Main(args, stdio)
}

// readNoEcho reads one line from the terminal fd with echo switched off.
func readNoEcho(fd int) (string, error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := os.Stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				return string(line), nil
			}
			line = append(line, b[0])
		}
		if err != nil {
			return string(line), err
		}
	}
}

// execCommand replaces this process with args, looked up in PATH.
func execCommand(args []string) int {
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v (this image runs mysqld by default; other commands must be in PATH=%s)\n", err, os.Getenv("PATH"))
		return 127
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintf(os.Stderr, "error: exec %s: %v\n", path, err)
	return 126
}
