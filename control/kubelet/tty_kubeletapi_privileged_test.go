package kubelet_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/skiffnet/skiff/control/kubelet"
	"github.com/skiffnet/skiff/internal/nstest"
)

// sizeQueue hands kubectl-style terminal sizes to a remotecommand client.
type sizeQueue chan remotecommand.TerminalSize

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	sz, ok := <-q
	if !ok {
		return nil
	}
	return &sz
}

// ttySession is `kubectl attach -it` through the kubelet API.
type ttySession struct {
	in    *io.PipeWriter
	out   kubelet.SyncBuffer
	sizes sizeQueue
	done  chan error
	stop  context.CancelFunc
}

func attachTTY(t *testing.T, rc *rest.Config, websocket bool, pod string, size remotecommand.TerminalSize) *ttySession {
	t.Helper()
	u, _ := url.Parse(rc.Host + "/attach/default/" + pod + "/app?stdin=1&stdout=1&tty=1")
	var ex remotecommand.Executor
	var err error
	if websocket {
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(rc, "GET", u.String(), "v4.channel.k8s.io")
	} else {
		ex, err = remotecommand.NewSPDYExecutor(rc, "POST", u)
	}
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &ttySession{in: w, sizes: make(sizeQueue, 2), done: make(chan error, 1), stop: cancel}
	s.sizes <- size
	go func() {
		s.done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: r, Stdout: &s.out, Tty: true, TerminalSizeQueue: s.sizes})
	}()
	t.Cleanup(func() { cancel(); w.Close() })
	return s
}

// typeUntil types line until the output shows all of want.
func (s *ttySession) typeUntil(t *testing.T, line string, want ...string) {
	t.Helper()
	for i := 0; i < 60; i++ {
		if i%5 == 0 {
			if _, err := io.WriteString(s.in, line+"\r"); err != nil {
				t.Fatalf("type %q: %v", line, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		out, all := s.out.String(), true
		for _, w := range want {
			all = all && strings.Contains(out, w)
		}
		if all {
			return
		}
	}
	t.Fatalf("typed %q, output %q lacks %q", line, s.out.String(), want)
}

// kubectl attach -it and kubectl run -it through the kubelet API, over
// WebSocket and SPDY: the client's terminal size reaches the container's
// terminal, typed commands run, and `exit` ends the session and the pod.
func TestPrivilegedKubeletAPIAttachTTY(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	cfg := kubelet.NewTestEnv(t, client)
	pod := kubelet.NewTestPod("term", "d1111111-2222-3333-4444-555555555555")
	pod.Spec.RestartPolicy = v1.RestartPolicyNever
	c := &pod.Spec.Containers[0]
	c.Command, c.Stdin, c.TTY, c.Ports = []string{"/bin/sh"}, true, true, nil
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k := kubelet.StartTestKubelet(t, cfg)
	kubelet.WaitPod(t, client, "term", "Running", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	rc := apiClient(t, k)

	ws := attachTTY(t, rc, true, "term", remotecommand.TerminalSize{Width: 77, Height: 22})
	ws.typeUntil(t, "stty size; echo ws-$((1+1))", "22 77\r\n", "ws-2\r\n")
	ws.sizes <- remotecommand.TerminalSize{Width: 81, Height: 19}
	ws.typeUntil(t, "stty size", "19 81\r\n")
	ws.stop() // detach: the container keeps running (no stdinOnce)
	<-ws.done
	if err := k.CheckRunning("default", "term", "app"); err != nil {
		t.Fatalf("container stopped after the WebSocket session: %v", err)
	}

	sp := attachTTY(t, rc, false, "term", remotecommand.TerminalSize{Width: 100, Height: 31})
	sp.typeUntil(t, "stty size; echo spdy-$((2+1))", "31 100\r\n", "spdy-3\r\n")
	if _, err := io.WriteString(sp.in, "exit 0\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sp.done:
		if err != nil {
			t.Fatalf("session after exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end when the shell exited")
	}
	p := kubelet.WaitPod(t, client, "term", "Succeeded", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
	if st := p.Status.ContainerStatuses[0].State.Terminated; st == nil || st.ExitCode != 0 {
		t.Fatalf("shell state %+v", p.Status.ContainerStatuses[0].State)
	}
}
