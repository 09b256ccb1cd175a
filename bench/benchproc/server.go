package benchproc

import (
	"context"
	"errors"
	"fmt"
	"github.com/skiffnet/skiff/internal/freeport"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Server is a `skiff server` child process in its own session.
type Server struct {
	cmd        *exec.Cmd
	Kubeconfig string
	URL        string
	Dir        string
	log        *os.File
}

// StartServer runs bin as a server on a free loopback port with its data in
// dir/server, extra flags appended, and waits until it answers /readyz.
func StartServer(ctx context.Context, bin, dir string, extra ...string) (*Server, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(bin, append([]string{"server", "--data-dir", filepath.Join(dir, "server"),
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(port)}, extra...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s server: %w (build it with `make build`)", bin, err)
	}
	s := &Server{cmd: cmd, Dir: dir, Kubeconfig: filepath.Join(dir, "server", "admin.kubeconfig"), URL: fmt.Sprintf("https://127.0.0.1:%d", port), log: logf}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(s.Kubeconfig); err == nil {
			if c, err := s.Client(); err == nil {
				if _, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil {
					return s, nil
				}
			}
		}
		select {
		case <-exited:
			s.Stop()
			return nil, fmt.Errorf("skiff server exited during start-up; see %s", logf.Name())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("skiff server not ready within 90s; see %s", logf.Name())
		}
	}
}

// Client is a clientset with the admin credentials and a high rate limit.
func (s *Server) Client() (*kubernetes.Clientset, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 2000, 4000
	return kubernetes.NewForConfig(rc)
}

// PID is the server process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// RSS returns the server's resident and peak resident memory in bytes.
func (s *Server) RSS() (cur, peak int64, err error) { return RSS(s.cmd.Process.Pid) }

// RSS returns the resident and peak resident memory of process pid.
func RSS(pid int) (cur, peak int64, err error) {
	v, err := procStatus(pid, "VmRSS:", "VmHWM:")
	if err != nil {
		return 0, 0, err
	}
	if v[0] == 0 {
		return 0, 0, errors.New("no VmRSS in /proc status")
	}
	return v[0], v[1], nil
}

// RSSParts splits the resident memory of process pid into anonymous
// memory (heap, stacks) and file-backed pages (mostly the mapped skiff
// executable, shared by every process running it).
func RSSParts(pid int) (anon, file int64, err error) {
	v, err := procStatus(pid, "RssAnon:", "RssFile:")
	if err != nil {
		return 0, 0, err
	}
	return v[0], v[1], nil
}

// procStatus reads the kB fields named keys from /proc/<pid>/status, in
// bytes (0 for a field that is missing).
func procStatus(pid int, keys ...string) ([]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(keys))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for i, k := range keys {
			if f[0] == k {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				out[i] = kb * 1024
			}
		}
	}
	return out, nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s).
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for syscall.Kill(s.cmd.Process.Pid, 0) == nil {
				time.Sleep(50 * time.Millisecond)
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	s.log.Close()
}
