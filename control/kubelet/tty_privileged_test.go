package kubelet

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
)

// session is one Attach call driven by a test: what it types goes to
// in, what comes back collects in out.
type session struct {
	in     *io.PipeWriter
	out    syncBuffer
	resize chan TermSize
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// attachSession attaches to container app of pod name; withStdin sends
// input, tty asks for a terminal with resize events.
func attachSession(t *testing.T, k *Kubelet, pod string, withStdin, tty bool) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{cancel: cancel, done: make(chan error, 1), resize: make(chan TermSize, 4)}
	st := Streams{Stdout: &s.out, TTY: tty}
	if tty {
		st.Resize = s.resize
	}
	if withStdin {
		r, w := io.Pipe()
		s.in, st.Stdin = w, r
	}
	go func() { s.done <- k.Attach(ctx, "default", pod, "app", st) }()
	t.Cleanup(func() {
		cancel()
		if s.in != nil {
			s.in.Close()
		}
	})
	return s
}

// typeUntil types line into s until its output shows all of want (the
// output tail starts once Attach has set up, which the test cannot see).
func (s *session) typeUntil(t *testing.T, line string, want ...string) {
	t.Helper()
	s.typeSeenBy(t, s, line, want...)
}

// typeSeenBy types line into s until w's output shows all of want.
func (s *session) typeSeenBy(t *testing.T, w *session, line string, want ...string) {
	t.Helper()
	for i := 0; i < 60; i++ {
		if i%5 == 0 {
			if _, err := io.WriteString(s.in, line+"\n"); err != nil {
				t.Fatalf("type %q: %v", line, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if containsAll(w.out.String(), want) {
			return
		}
	}
	t.Fatalf("typed %q, output %q lacks %q", line, w.out.String(), want)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// end closes the session's input and waits for Attach to return.
func (s *session) end(t *testing.T, cancel bool) {
	t.Helper()
	if s.in != nil {
		s.in.Close()
	}
	if cancel {
		s.cancel()
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("attach: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach session did not end")
	}
}

func shellPod(name, uid string, stdinOnce bool, cmd ...string) *v1.Pod {
	p := testPod(name, uid)
	c := &p.Spec.Containers[0]
	c.Command, c.Stdin, c.StdinOnce, c.TTY = cmd, true, stdinOnce, true
	c.Ports = nil
	return p
}

func logText(t *testing.T, k *Kubelet, pod string) string {
	t.Helper()
	rc, err := k.Logs(context.Background(), "default", pod, "app", LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// A tty + stdin container (kubectl run -it, kubectl attach -it): typed
// commands run in its terminal, resizes apply, several sessions share it,
// and with nobody attached its output keeps draining to the log.
func TestPrivilegedTTYAttach(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	env := newKubeletEnv(t, client)
	shell := shellPod("shell", "c1111111-2222-3333-4444-555555555555", false, "/bin/sh")
	once := shellPod("once", "c2222222-2222-3333-4444-555555555555", true, "/bin/sh")
	once.Spec.RestartPolicy = v1.RestartPolicyNever
	// kubectl run -i --rm --restart=Never IMAGE -- sh -c cat: no terminal.
	pipe := shellPod("pipe", "c3333333-2222-3333-4444-555555555555", true, "/bin/sh", "-c", "cat")
	pipe.Spec.RestartPolicy = v1.RestartPolicyNever
	pipe.Spec.Containers[0].TTY = false
	// stdinOnce, and a process that outlives its stdin.
	survivor := shellPod("survivor", "c4444444-2222-3333-4444-555555555555", true, "/bin/sh", "-c", "cat; echo stdin-ended; exec sleep 600")
	survivor.Spec.Containers[0].TTY = false
	for _, p := range []*v1.Pod{shell, once, pipe, survivor} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := startKubelet(t, env.cfg)
	defer stop()
	k := kubeletOf[env.cfg.NodeName]
	for _, p := range []string{"shell", "once", "pipe", "survivor"} {
		waitPod(t, client, p, "Running", time.Minute, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	}

	// The prompt reaches the log before anyone attaches.
	if !waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() bool { return strings.Contains(logText(t, k, "shell"), "# ") }) {
		t.Fatalf("no shell prompt in the log: %q", logText(t, k, "shell"))
	}

	t.Run("typed commands and resize", func(t *testing.T) {
		a := attachSession(t, k, "shell", true, true)
		a.resize <- TermSize{Width: 123, Height: 45}
		// The terminal echoes "$((20+22))"; only the shell prints 42.
		a.typeUntil(t, "stty size; echo hi-$((20+22))-$TERM", "45 123\r\n", "hi-42-xterm\r\n")
		a.resize <- TermSize{Width: 90, Height: 30}
		a.typeUntil(t, "stty size", "30 90\r\n")

		// A second session sees what the first one's commands print.
		b := attachSession(t, k, "shell", false, true)
		a.typeSeenBy(t, b, "echo both-$((3*7))", "both-21\r\n")
		b.end(t, true)

		// Over 64 KiB of output with nobody attached must not stall the
		// terminal: it drains to the log.
		a.typeUntil(t, "(sleep 1; seq 1 30000; echo after-$((6*7))) &", ") &\r\n")
		a.end(t, true)
		if !waitFor(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
			return strings.Contains(logText(t, k, "shell"), "30000\r\nafter-42\r\n")
		}) {
			t.Fatal("output written while nobody was attached did not reach the log")
		}
		if err := k.CheckRunning("default", "shell", "app"); err != nil {
			t.Fatalf("shell not running after the sessions ended: %v", err)
		}
		c := attachSession(t, k, "shell", true, true)
		c.typeUntil(t, "echo again-$((50+5))", "again-55\r\n")
		c.end(t, true)
		if l := logText(t, k, "shell"); !containsAll(l, []string{"hi-42-xterm", "both-21", "again-55"}) {
			t.Fatalf("log lacks the sessions' output: %q", l)
		}
	})

	t.Run("stdinOnce closes the terminal after the first session", func(t *testing.T) {
		s := attachSession(t, k, "once", true, true)
		s.resize <- TermSize{Width: 80, Height: 24}
		s.typeUntil(t, "echo once-$((2+2))", "once-4\r\n")
		// The client's stdin ends (kubectl detached or was killed): the
		// container's terminal input is closed and the shell ends.
		s.end(t, false)
		p := waitPod(t, client, "once", "terminated", 30*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil
		})
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 0 {
			t.Fatalf("restartCount %d", n)
		}
	})

	t.Run("stdin without a terminal (kubectl run -i)", func(t *testing.T) {
		s := attachSession(t, k, "pipe", true, false)
		word := fmt.Sprintf("piped-%d", time.Now().UnixNano())
		if _, err := io.WriteString(s.in, word+"\n"); err != nil {
			t.Fatal(err)
		}
		s.end(t, false) // EOF after the line: cat ends, and so does the session
		if got := s.out.String(); got != word+"\n" {
			t.Fatalf("attach output %q, want %q", got, word+"\n")
		}
		p := waitPod(t, client, "pipe", "Succeeded", 30*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if st := p.Status.ContainerStatuses[0].State.Terminated; st == nil || st.ExitCode != 0 {
			t.Fatalf("cat did not exit 0: %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("stdinOnce refuses stdin to later sessions", func(t *testing.T) {
		s := attachSession(t, k, "survivor", true, false)
		if _, err := io.WriteString(s.in, "first\n"); err != nil {
			t.Fatal(err)
		}
		s.in.Close()
		if !waitFor(ctx, 20*time.Second, 50*time.Millisecond, func() bool { return s.out.String() == "first\nstdin-ended\n" }) {
			t.Fatalf("output %q: stdin not closed after the first session", s.out.String())
		}
		s.end(t, true)
		if err := k.CheckAttach("default", "survivor", "app", true); err == nil || !strings.Contains(err.Error(), "already closed its stdin") {
			t.Fatalf("second attach with stdin: %v", err)
		}
		if err := k.CheckAttach("default", "survivor", "app", false); err != nil {
			t.Fatalf("attach without stdin: %v", err)
		}
	})
}
