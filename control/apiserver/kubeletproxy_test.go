package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// fakeKubelet is a TLS kubelet stand-in: it demands a client certificate
// from the cluster CA with CN KubeletClientCN and serves the kubelet's
// containerLogs, exec, attach and portForward endpoints (exec and attach
// through the real cri-streaming SPDY/WebSocket server code).
type fakeKubelet struct {
	t       *testing.T
	proceed chan struct{}
	mu      sync.Mutex
	seen    []string
}

func (f *fakeKubelet) record(s string) {
	f.mu.Lock()
	f.seen = append(f.seen, s)
	f.mu.Unlock()
}

func (f *fakeKubelet) requests() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.seen, "\n")
}

var streamProtocols = []string{remotecommand.StreamProtocolV4Name, remotecommand.StreamProtocolV3Name,
	remotecommand.StreamProtocolV2Name, remotecommand.StreamProtocolV1Name}

func (f *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != KubeletClientCN {
		f.t.Errorf("fake kubelet: request %s without the API server's kubelet client certificate", r.URL)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	f.record(r.Method + " " + r.URL.RequestURI() + " upgrade=" + strings.ToLower(r.Header.Get("Upgrade")) + " " + r.Header.Get("Sec-Websocket-Protocol") + r.Header.Get("X-Stream-Protocol-Version"))
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "containerLogs" && len(parts) == 4:
		f.serveLogs(w, r, parts[1], parts[2], parts[3])
	case parts[0] != "containerLogs" && len(parts) == 4 && parts[3] == "waiting":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400,"message":"container waiting in pod %s is waiting to start: ContainerCreating"}`, parts[2])
	case parts[0] == "exec" && len(parts) == 4:
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeExec(w, r, fakeRuntime{}, parts[2], "", parts[3], r.URL.Query()["command"], opts, time.Minute, 30*time.Second, streamProtocols)
	case parts[0] == "attach" && len(parts) == 4:
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeAttach(w, r, fakeRuntime{}, parts[2], "", parts[3], opts, time.Minute, 30*time.Second, streamProtocols)
	case parts[0] == "portForward" && len(parts) == 3:
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, r, fakeRuntime{}, parts[2], "", opts, time.Minute, 30*time.Second, portforward.SupportedProtocols)
	default:
		http.Error(w, "no such kubelet endpoint "+r.URL.Path, http.StatusNotFound)
	}
}

func (f *fakeKubelet) serveLogs(w http.ResponseWriter, r *http.Request, ns, pod, container string) {
	switch container {
	case "waiting":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400,"message":"container %s in pod %s is waiting to start: ContainerCreating"}`, container, pod)
		return
	case "textfail":
		http.Error(w, "log file of textfail is missing", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "log of %s/%s/%s\nquery: %s\n", ns, pod, container, r.URL.Query().Encode())
	if r.URL.Query().Get("follow") == "true" {
		w.(http.Flusher).Flush()
		select {
		case <-f.proceed:
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "after follow\n")
	}
}

// fakeRuntime plays a container runtime for the streaming server.
type fakeRuntime struct{}

func (fakeRuntime) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	switch cmd[0] {
	case "echo":
		fmt.Fprintln(out, strings.Join(cmd[1:], " "))
		return nil
	case "cat":
		if in != nil {
			io.Copy(out, in)
		}
		return nil
	case "size": // report the first terminal size the client sends
		select {
		case sz := <-resize:
			fmt.Fprintf(out, "tty=%v %dx%d\n", tty, sz.Width, sz.Height)
		case <-time.After(10 * time.Second):
			fmt.Fprintf(out, "tty=%v no resize\n", tty)
		}
		return nil
	case "fail":
		code, _ := strconv.Atoi(cmd[1])
		fmt.Fprintln(stderr, "failing on purpose")
		return utilexec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code}
	}
	return utilexec.CodeExitError{Err: errors.New(cmd[0] + ": not found"), Code: 127}
}

func (fakeRuntime) AttachContainer(ctx context.Context, name, uid, container string, in io.Reader, out, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	fmt.Fprintf(out, "attached to %s/%s\n", name, container)
	return nil
}

func (fakeRuntime) PortForward(ctx context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	fmt.Fprintf(stream, "pod %s port %d\n", name, port)
	_, err := io.Copy(stream, stream)
	return err
}

// startFakeKubelet serves fk with a self-signed certificate and returns
// its port.
func startFakeKubelet(t *testing.T, run *Running, fk *fakeKubelet) int32 {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(run.PKI.CACert)
	srv := httptest.NewUnstartedServer(fk)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return int32(srv.Listener.Addr().(*net.TCPAddr).Port)
}

func mkNode(t *testing.T, cs *kubernetes.Clientset, name string, port int32) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
	}}
	ctx := context.Background()
	got, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Status = node.Status
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mkPod(t *testing.T, cs *kubernetes.Clientset, ns, name, node string, containers ...string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "busybox:1.36"})
	}
	ctx := context.Background()
	got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node == "" {
		return
	}
	got.Status.Phase = corev1.PodRunning
	for _, c := range containers {
		got.Status.ContainerStatuses = append(got.Status.ContainerStatuses, corev1.ContainerStatus{Name: c, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestKubeletProxyKubectl drives pods/log, exec, attach and portforward
// with the real kubectl binaries through the API server to a TLS kubelet.
func TestKubeletProxyKubectl(t *testing.T) {
	bins := kubectlBinaries(t)
	run := startTest(t)
	var logs syncBuffer
	run.Server.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fk := &fakeKubelet{t: t, proceed: make(chan struct{})}
	port := startFakeKubelet(t, run, fk)
	cs := clients(t, run, false)
	const ns = "kp-test"
	mkNS(t, cs, ns)
	mkNode(t, cs, "kp-node", port)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	mkNode(t, cs, "kp-dead", int32(deadPort))
	mkPod(t, cs, ns, "p1", "kp-node", "c1")
	mkPod(t, cs, ns, "p2", "kp-node", "c1", "waiting", "textfail")
	mkPod(t, cs, ns, "unbound", "", "c1")
	mkPod(t, cs, ns, "lost", "kp-dead", "c1")

	for name, bin := range bins {
		if name == "kubectl.1.33" {
			continue // kubectl (1.32, WebSocket first) and 1.27 (SPDY only) cover both transports
		}
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			k := func(stdin string, args ...string) (string, error) {
				t.Helper()
				return kubectl(t, bin, run.Kubeconfig, home, stdin, append([]string{"-n", ns}, args...)...)
			}
			ok := func(stdin string, args ...string) string {
				t.Helper()
				out, err := k(stdin, args...)
				if err != nil {
					t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			fails := func(want string, args ...string) string {
				t.Helper()
				out, err := k("", args...)
				if err == nil || !strings.Contains(out, want) {
					t.Fatalf("kubectl %s: err=%v, want an error containing %q:\n%s", strings.Join(args, " "), err, want, out)
				}
				t.Logf("kubectl %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
				return out
			}

			// logs
			if out := ok("", "logs", "p1"); out != "log of kp-test/p1/c1\nquery: \n" {
				t.Fatalf("logs p1: %q", out)
			}
			out := ok("", "logs", "p1", "--tail=2", "--timestamps", "--limit-bytes=4096")
			for _, want := range []string{"limitBytes=4096", "tailLines=2", "timestamps=true"} {
				if !strings.Contains(out, want) {
					t.Fatalf("logs options not passed to the kubelet (%s): %q", want, out)
				}
			}
			fails("container nope is not valid for pod p1", "logs", "p1", "-c", "nope")
			fails("is waiting to start: ContainerCreating", "logs", "p2", "-c", "waiting")
			fails("pod unbound does not have a host assigned", "logs", "unbound")
			out = fails("ServiceUnavailable", "logs", "lost")
			for _, want := range []string{`node "kp-dead"`, "127.0.0.1:" + strconv.Itoa(deadPort), "agent"} {
				if !strings.Contains(out, want) {
					t.Fatalf("unreachable kubelet error lacks %q: %s", want, out)
				}
			}
			followLogs(t, bin, run.Kubeconfig, home, ns, fk)

			// exec
			if out := ok("", "exec", "p1", "--", "echo", "hi", "there"); out != "hi there\n" {
				t.Fatalf("exec echo: %q", out)
			}
			if out := ok("line one\nline two\n", "exec", "-i", "p1", "--", "cat"); out != "line one\nline two\n" {
				t.Fatalf("exec -i cat: %q", out)
			}
			out, err := k("", "exec", "p1", "--", "fail", "3")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(out, "command terminated with exit code 3") || !strings.Contains(out, "failing on purpose") {
				t.Fatalf("exec fail 3: err=%v out=%q, want exit code 3 reported", err, out)
			}
			fails("container nope is not valid for pod p1", "exec", "p1", "-c", "nope", "--", "echo", "hi")
			fails("does not have a host assigned", "exec", "unbound", "--", "echo", "hi")
			fails("container waiting in pod p2 is waiting to start", "exec", "p2", "-c", "waiting", "--", "echo", "hi")
			fails("cannot reach the kubelet of node", "exec", "lost", "--", "echo", "hi")

			// attach
			if out := ok("", "attach", "p1"); !strings.Contains(out, "attached to p1/c1\n") {
				t.Fatalf("attach: %q", out)
			}

			portForward(t, bin, run.Kubeconfig, home, ns)

			if out := ok("", "auth", "can-i", "create", "pods/exec"); strings.TrimSpace(out) != "yes" {
				t.Fatalf("auth can-i create pods/exec: %q", out)
			}
		})
	}
	reqs := fk.requests()
	t.Logf("kubelet requests:\n%s", reqs)
	if _, ok := bins["kubectl"]; ok {
		// kubectl 1.32 uses WebSocket for exec, attach and port-forward:
		// the API server must serve those itself (the kubelet only ever
		// sees SPDY) and the sessions must open (no fallback to SPDY).
		l := logs.String()
		for _, want := range []string{"exec/attach WebSocket open", "port-forward tunnel open", "via=websocket-to-spdy", "via=websocket-tunnel"} {
			if !strings.Contains(l, want) {
				t.Errorf("API server log lacks %q:\n%s", want, l)
			}
		}
		if strings.Contains(reqs, "upgrade=websocket") || strings.Contains(l, "upgrade failed") {
			t.Errorf("a WebSocket session fell back or reached the kubelet:\n%s\n%s", reqs, l)
		}
	}
	for _, want := range []string{
		"GET /containerLogs/kp-test/p1/c1?",
		"/exec/kp-test/p1/c1?command=echo&command=hi&command=there&",
		"/exec/kp-test/p1/c1?command=cat&error=1&input=1&output=1&",
		"/attach/kp-test/p1/c1?",
		"/portForward/kp-test/p1",
	} {
		if !strings.Contains(reqs, want) {
			t.Errorf("the fake kubelet never saw %q; it saw:\n%s", want, reqs)
		}
	}
}

// followLogs checks that `kubectl logs -f` shows lines while the kubelet
// is still writing: the fake kubelet holds the stream open until the test
// has read the first lines.
func followLogs(t *testing.T, bin, kubeconfig, home, ns string, fk *fakeKubelet) {
	t.Helper()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "-n", ns, "logs", "-f", "p1")
	cmd.Env = append(cmd.Environ(), "HOME="+home)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("logs -f ended early; stderr: %s", stderr.String())
			}
			return l
		case <-time.After(20 * time.Second):
			t.Fatalf("logs -f: no line within 20s; stderr: %s", stderr.String())
		}
		return ""
	}
	if l := next(); l != "log of kp-test/p1/c1" {
		t.Fatalf("logs -f first line: %q", l)
	}
	if l := next(); l != "query: follow=true" {
		t.Fatalf("logs -f second line: %q", l)
	}
	select {
	case fk.proceed <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("the fake kubelet is not waiting in follow mode")
	}
	if l := next(); l != "after follow" {
		t.Fatalf("logs -f third line: %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logs -f: %v; stderr: %s", err, stderr.String())
	}
}

// portForward runs `kubectl port-forward` and talks through it to the
// fake kubelet's echo forwarder.
func portForward(t *testing.T, bin, kubeconfig, home, ns string) {
	t.Helper()
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/p1", ":8080")
	cmd.Env = append(cmd.Environ(), "HOME="+home)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	local := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				local <- m[1]
			}
		}
	}()
	var lport string
	select {
	case lport = <-local:
	case <-time.After(20 * time.Second):
		t.Fatalf("port-forward did not start; stderr: %s", stderr.String())
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+lport, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); err != nil || l != "pod p1 port 8080\n" {
		t.Fatalf("port-forward banner: %q %v; stderr: %s", l, err, stderr.String())
	}
	fmt.Fprintf(c, "ping\n")
	if l, err := r.ReadString('\n'); err != nil || l != "ping\n" {
		t.Fatalf("port-forward echo: %q %v", l, err)
	}
}
