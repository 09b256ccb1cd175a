package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf collects a terminal session's output while it runs.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *syncBuf) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// termCmd is kubectl run under script(1), so that it has a terminal.
type termCmd struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  syncBuf
	done chan error
}

func startTerm(t *testing.T, c *cluster, kubectlArgs string) *termCmd {
	tc := &termCmd{done: make(chan error, 1)}
	tc.cmd = exec.Command("script", "-qec", fmt.Sprintf("kubectl --kubeconfig %s %s", c.kubeconfig, kubectlArgs), "/dev/null")
	tc.cmd.Env = append(os.Environ(), "HOME="+c.dir)
	tc.cmd.Stdout, tc.cmd.Stderr = &tc.out, &tc.out
	var err error
	if tc.in, err = tc.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := tc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { tc.done <- tc.cmd.Wait() }()
	t.Cleanup(func() { _ = tc.cmd.Process.Kill(); _ = tc.in.Close() })
	return tc
}

func (tc *termCmd) waitOut(t *testing.T, want string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if strings.Contains(tc.out.String(), want) {
			return
		}
	}
	t.Fatalf("no %q in %q", want, tc.out.String())
}

func (tc *termCmd) typeUntil(t *testing.T, line, want string) {
	t.Helper()
	for i := 0; i < 40; i++ {
		if i%10 == 0 {
			_, _ = io.WriteString(tc.in, line+"\r")
		}
		time.Sleep(100 * time.Millisecond)
		if strings.Contains(tc.out.String(), want) {
			return
		}
	}
	t.Fatalf("typed %q; no %q in %q", line, want, tc.out.String())
}

func (tc *termCmd) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-tc.done:
		if err != nil {
			t.Fatalf("kubectl: %v\n%s", err, tc.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("kubectl did not end: %q", tc.out.String())
	}
}

// TestE2ETerminal: kubectl run -i, run -it --rm and attach -it, with the
// stock kubectl on a terminal, against a real agent.
func TestE2ETerminal(t *testing.T) {
	c, _ := startAgentCluster(t, "shell.tar")
	img := "--image=docker.io/skiff/shell:v1"

	// kubectl run -i without a terminal.
	out, err := c.kubectlWith("", []byte("cat-line\n"), "run", "-i", "--rm", "--restart=Never", img, "pipe1", "--", "sh", "-c", "cat")
	t.Logf("run -i: %q %v", out, err)
	if err != nil || !strings.Contains(out, "cat-line") {
		t.Fatalf("kubectl run -i: %v %q", err, out)
	}

	// kubectl run -it --rm.
	tc := startTerm(t, c, "run -it --rm --restart=Never "+img+" tty1 -- sh")
	tc.waitOut(t, "If you don't see a command prompt", 90*time.Second)
	tc.typeUntil(t, "stty size; echo hi-$((40+2))", "hi-42")
	tc.typeUntil(t, "exit", "deleted")
	tc.wait(t)
	t.Logf("run -it: %q", tc.out.String())
	c.eventually("tty1 deleted", 30*time.Second, func() error {
		out, err := c.kubectlErr("get", "pod", "tty1", "--ignore-not-found", "--no-headers")
		if err != nil || strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s %v", out, err)
		}
		return nil
	})

	// kubectl attach -it to a running tty pod.
	c.kubectl("run", "att", "--restart=Never", "--stdin", "--tty", "--attach=false", img, "--", "sh")
	c.eventually("att Running", 60*time.Second, func() error {
		out, err := c.kubectlErr("get", "pod", "att", "--no-headers")
		if err != nil || !strings.Contains(out, "Running") {
			return fmt.Errorf("%s %v", out, err)
		}
		return nil
	})
	ta := startTerm(t, c, "attach -it att")
	ta.typeUntil(t, "echo att-$((2+5))", "att-7")
	ta.typeUntil(t, "exit", "exit")
	ta.wait(t)
	t.Logf("attach -it: %q", ta.out.String())
	c.eventually("att Succeeded", 30*time.Second, func() error {
		out, err := c.kubectlErr("get", "pod", "att", "--no-headers")
		if err != nil || !strings.Contains(out, "Completed") {
			return fmt.Errorf("%s %v", out, err)
		}
		return nil
	})
	if logs := c.kubectl("logs", "att"); !strings.Contains(logs, "att-7") {
		t.Fatalf("kubectl logs att does not show the session: %q", logs)
	}
}
