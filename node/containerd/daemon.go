package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd"
)

// Daemon is a supervised containerd process and a client connected to it.
type Daemon struct {
	opts   Options
	log    *slog.Logger
	client *ctrd.Client

	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor loop returns

	stopping atomic.Bool

	mu       sync.Mutex
	pid      int
	restarts int
	exited   chan struct{} // closed when the current process is gone
}

// Start writes the config, starts containerd in its own session (or adopts
// one this data dir already runs, e.g. after an agent restart), waits until
// it answers on the socket and keeps it running until Stop or Close.
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(opts.Binary); err != nil {
		return nil, fmt.Errorf("containerd binary %s: %w (install Debian's containerd and runc: make deps)", opts.Binary, err)
	}
	for _, d := range []string{opts.dir(), opts.dir() + "/root", opts.dir() + "/state", opts.dir() + "/opt"} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := writeFileAtomic(opts.configPath(), []byte(renderConfig(&opts)), 0o644); err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, log: slog.Default().With("component", "containerd", "socket", opts.Socket), done: make(chan struct{})}

	if pid := d.runningPID(); pid > 0 {
		d.log.Info("adopting running containerd", "pid", pid)
		d.adopt(pid)
	} else {
		if c, err := net.DialTimeout("unix", opts.Socket, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("containerd: something already listens on %s but %s names no live containerd of ours; stop it, or give the agent that socket instead of a data dir", opts.Socket, opts.pidPath())
		}
		if err := d.spawn(); err != nil {
			return nil, err
		}
	}
	if err := d.waitReady(ctx, 30*time.Second); err != nil {
		d.kill()
		return nil, err
	}
	client, err := ctrd.New(opts.Socket, ctrd.WithDefaultNamespace(opts.Namespace), ctrd.WithTimeout(10*time.Second))
	if err != nil {
		d.kill()
		return nil, fmt.Errorf("connect to containerd at %s: %w (see %s)", opts.Socket, err, opts.logPath())
	}
	d.client = client
	sctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.supervise(sctx)
	return d, nil
}

// Client is the containerd client; its default namespace is Options.Namespace.
// It reconnects by itself after containerd restarts.
func (d *Daemon) Client() *ctrd.Client { return d.client }

// Socket is the containerd gRPC socket path.
func (d *Daemon) Socket() string { return d.opts.Socket }

// PID is the current containerd process id.
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}

// Restarts counts how often the supervisor had to start containerd again.
func (d *Daemon) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// Close stops supervising and closes the client but leaves containerd and
// its containers running; the next Start on the same data dir adopts it.
func (d *Daemon) Close() error {
	d.cancel()
	<-d.done
	return d.client.Close()
}

// Stop stops supervising and terminates containerd: SIGTERM, then SIGKILL
// if it has not exited when ctx ends or after 10 s. Containers (their shims)
// keep running; delete them first if they must go.
func (d *Daemon) Stop(ctx context.Context) error {
	d.stopping.Store(true)
	d.cancel()
	<-d.done
	_ = d.client.Close()
	d.mu.Lock()
	pid, exited := d.pid, d.exited
	d.mu.Unlock()
	if pid <= 0 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-exited:
	case <-ctx.Done():
	case <-t.C:
	}
	select {
	case <-exited:
	default:
		d.log.Warn("containerd did not exit after SIGTERM; killing it", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
	_ = os.Remove(d.opts.pidPath())
	d.log.Info("containerd stopped", "pid", pid)
	return nil
}

// spawn starts a new containerd child in its own session.
func (d *Daemon) spawn() error {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	logf, err := os.OpenFile(d.opts.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open containerd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(d.opts.Binary, "--config", d.opts.configPath())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), "PATH="+ensurePath(os.Getenv("PATH")))
	// A socket file left by a killed containerd would make waitReady think
	// the new one is up before it listens.
	_ = os.Remove(d.opts.Socket)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.opts.Binary, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		if d.stopping.Load() {
			d.log.Info("containerd exited", "pid", cmd.Process.Pid, "status", exitStatus(err))
		} else {
			d.log.Warn("containerd exited", "pid", cmd.Process.Pid, "status", exitStatus(err))
		}
		close(exited)
	}()
	d.mu.Lock()
	d.pid, d.exited = cmd.Process.Pid, exited
	d.mu.Unlock()
	if err := writeFileAtomic(d.opts.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		d.log.Warn("cannot record containerd pid; a restarted agent will not adopt it", "err", err)
	}
	d.log.Info("containerd started", "pid", cmd.Process.Pid, "config", d.opts.configPath(), "log", d.opts.logPath())
	return nil
}

// adopt watches a containerd that is not our child by polling its pid.
func (d *Daemon) adopt(pid int) {
	exited := make(chan struct{})
	go func() {
		for processAlive(pid) {
			time.Sleep(500 * time.Millisecond)
		}
		if !d.stopping.Load() {
			d.log.Warn("adopted containerd exited", "pid", pid)
		}
		close(exited)
	}()
	d.mu.Lock()
	d.pid, d.exited = pid, exited
	d.mu.Unlock()
}

// supervise restarts containerd whenever it exits, with back-off from 1 s
// up to 30 s; a run longer than a minute resets the back-off.
func (d *Daemon) supervise(ctx context.Context) {
	defer close(d.done)
	backoff := time.Second
	for {
		d.mu.Lock()
		exited := d.exited
		d.mu.Unlock()
		started := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-exited:
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		d.log.Error("containerd is down; restarting it", "in", backoff, "log", d.opts.logPath())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
		if err := d.spawn(); err != nil {
			d.log.Error("restarting containerd failed; will retry", "err", err)
			d.mu.Lock()
			d.pid, d.exited = 0, closedChan()
			d.mu.Unlock()
			continue
		}
		d.mu.Lock()
		d.restarts++
		d.mu.Unlock()
		if err := d.waitReady(ctx, 30*time.Second); err != nil {
			d.log.Error("restarted containerd does not answer", "err", err)
		} else {
			d.log.Info("containerd is back", "pid", d.PID())
		}
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// waitReady waits until the socket accepts connections or the process dies.
func (d *Daemon) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	for {
		c, err := net.DialTimeout("unix", d.opts.Socket, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("containerd exited during start-up: %s", d.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not open %s within %v: %s", d.opts.Socket, limit, d.logTail())
		}
	}
}

func (d *Daemon) kill() {
	d.mu.Lock()
	pid, exited := d.pid, d.exited
	d.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}

// runningPID returns the pid of a live containerd started for this data
// dir, from the pid file, or 0.
func (d *Daemon) runningPID() int {
	b, err := os.ReadFile(d.opts.pidPath())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || !processAlive(pid) {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(d.opts.configPath())) {
		return 0 // the pid was reused by something else
	}
	return pid
}

func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie is dead for our purposes.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

func (d *Daemon) logTail() string {
	b, err := os.ReadFile(d.opts.logPath())
	if err != nil {
		return "no log at " + d.opts.logPath()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "last log lines (" + d.opts.logPath() + "):\n" + strings.Join(lines, "\n")
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// ensurePath makes sure the shim and runc (in /usr/bin, /usr/sbin) are found.
func ensurePath(p string) string {
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !strings.Contains(":"+p+":", ":"+dir+":") {
			if p == "" {
				p = dir
			} else {
				p += ":" + dir
			}
		}
	}
	return p
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
