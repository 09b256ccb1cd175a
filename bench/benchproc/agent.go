package benchproc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffnet/skiff/internal/agentclean"
	"github.com/skiffnet/skiff/internal/freeport"
)

// Agent is a `skiff agent` child process joined to a Server.
type Agent struct {
	Node string
	Dir  string
	cmd  *exec.Cmd
	log  *os.File
}

// StartAgent imports the image archives into a new agent data directory
// under srv.Dir, joins an agent named node with a fresh token and waits
// for its Node to be Ready.
func StartAgent(ctx context.Context, bin string, srv *Server, node string, archives ...string) (*Agent, error) {
	a := &Agent{Node: node, Dir: filepath.Join(srv.Dir, "agent")}
	if len(archives) > 0 {
		args := append([]string{"image", "import", "--data-dir", a.Dir}, archives...)
		if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("import %v: %v: %s", archives, err, out)
		}
	}
	token, err := exec.CommandContext(ctx, bin, "token", "create", "--data-dir", filepath.Join(srv.Dir, "server")).Output()
	if err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	if a.log, err = os.Create(filepath.Join(srv.Dir, "agent.log")); err != nil {
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	kport, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	a.cmd = exec.Command(bin, "agent", "--server", srv.URL, "--token", strings.TrimSpace(string(token)),
		"--node-name", node, "--node-ip", "127.0.0.1", "--data-dir", a.Dir, "--metrics-addr", "",
		"--kubelet-port", fmt.Sprint(kport))
	a.cmd.Stdin, a.cmd.Stdout, a.cmd.Stderr = devnull, a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := a.cmd.Start(); err != nil {
		a.log.Close()
		return nil, err
	}
	go func() { _ = a.cmd.Wait() }()
	client, err := srv.Client()
	if err != nil {
		a.Stop()
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == v1.NodeReady && c.Status == v1.ConditionTrue {
					return a, nil
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			a.Stop()
			return nil, fmt.Errorf("node %s not Ready within 90s; see %s", node, a.log.Name())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// PID of the agent process.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// ContainerdPID finds the containerd this agent supervises (0 if none).
func (a *Agent) ContainerdPID() int { return agentclean.ContainerdPID(a.Dir) }

// Stop ends the agent and removes everything it made (containers,
// containerd, mounts, pod namespaces, BPF pins).
func (a *Agent) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		for i := 0; i < 100 && syscall.Kill(a.cmd.Process.Pid, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	}
	agentclean.Cleanup(a.Dir, a.Node)
	if a.log != nil {
		a.log.Close()
	}
}
