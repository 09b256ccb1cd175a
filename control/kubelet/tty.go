package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"golang.org/x/sys/unix"
)

// Containers with spec.tty run with a terminal. containerd's runc shim
// holds the terminal's master end and copies it to the task's stdout; it
// cannot append a terminal to a file:// log as it does for plain output, so
// it runs a logging program instead (a binary:// stdout URI): the agent's
// own executable with the TTYLogCommand subcommand, which appends the
// terminal output to the instance's log file. The logger is a child of the
// shim, so the output keeps draining to the log whether or not anyone is
// attached and while the agent is down; Attach follows the log file as it
// does for containers without a terminal.

// TTYLogCommand is the subcommand of the agent's executable that the shim
// runs as a TTY container's logger (`skiff tty-log LOGFILE`).
const TTYLogCommand = "tty-log"

// ttyLogBinary returns the absolute path of the program the shim runs as
// logger; it is called with TTYLogCommand and the log file path.
var ttyLogBinary = os.Executable

// withTTY gives the container's process a terminal and, unless the
// container sets its own, TERM=xterm (what Kubernetes runtimes do).
func withTTY(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process == nil {
		return errors.New("container spec has no process to give a terminal")
	}
	s.Process.Terminal = true
	if !hasEnv(s.Process.Env, "TERM") {
		s.Process.Env = append(s.Process.Env, "TERM=xterm")
	}
	return nil
}

// ttyIO returns the IO for a new instance of a container with spec.tty:
// a terminal whose output the shim hands to the TTY logger, which appends
// it to logFile, and, when fifo is set, a stdin FIFO whose input the shim
// copies to the terminal. As with stdinLogIO the shim keeps its own write
// end of the FIFO open, so the terminal's input ends only on CloseIO.
func ttyIO(fifo, logFile string) cio.Creator {
	return func(string) (cio.IO, error) {
		bin, err := ttyLogBinary()
		if err != nil {
			return nil, fmt.Errorf("find the agent executable to log a TTY container: %w", err)
		}
		uri, err := cio.LogURIGenerator("binary", bin, map[string]string{TTYLogCommand: logFile})
		if err != nil {
			return nil, err
		}
		cfg := cio.Config{Terminal: true, Stdout: uri.String(), Stderr: uri.String()}
		if fifo != "" {
			if err := makeFIFO(fifo); err != nil {
				return nil, err
			}
			cfg.Stdin = fifo
		}
		return &fileIO{cfg: cfg}, nil
	}
}

// makeFIFO creates a fresh FIFO at path (and its directory).
func makeFIFO(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_ = os.Remove(path)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("create stdin fifo %s: %w", path, err)
	}
	return nil
}

// RunTTYLogger is the TTYLogCommand subcommand: the shim starts it with the
// terminal output on fd 3, an unused stderr pipe on fd 4 and a readiness
// pipe on fd 5 (containerd's binary logging protocol). It appends both
// pipes to the log file args[0] and returns when the output ends (the
// container exited or the shim went away).
func RunTTYLogger(args []string) error {
	if len(args) != 1 || !filepath.IsAbs(args[0]) {
		return fmt.Errorf("usage: skiff %s /ABSOLUTE/LOG/FILE (containerd's shim runs this for containers with tty: true; it is not meant to be run by hand)", TTYLogCommand)
	}
	for fd := 3; fd <= 5; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return fmt.Errorf("%s: fd %d is not a pipe; this subcommand is run by containerd's shim for containers with tty: true", TTYLogCommand, fd)
		}
	}
	out, serr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	// The shim's session may get hang-ups or interrupts meant for others;
	// the logger ends only with its input.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	err := os.MkdirAll(filepath.Dir(args[0]), 0o755)
	var f *os.File
	if err == nil {
		f, err = os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	}
	if err != nil {
		ready.Close()
		return fmt.Errorf("open container log: %w", err)
	}
	defer f.Close()
	// Tell the shim we are running.
	ready.Close()
	// The shim never writes to stderr for a terminal and may keep it open:
	// drain it without waiting for its end.
	go func() { _, _ = io.Copy(f, serr) }()
	if _, err := io.Copy(f, out); err != nil {
		return fmt.Errorf("copy terminal output to %s: %w", args[0], err)
	}
	return nil
}
