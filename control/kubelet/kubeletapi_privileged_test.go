package kubelet_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"

	"github.com/skiffnet/skiff/control/kubelet"
	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/node/kubeletapi"
)

// apiClient makes a cluster CA, a kubelet API server for k on loopback
// trusting it, and the API server's client config.
func apiClient(t *testing.T, k kubeletapi.Kubelet) *rest.Config {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: kubeletapi.APIServerClientCN},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	serving, err := kubeletapi.EnsureServingCert(t.TempDir(), "node-a", []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kubeletapi.New(kubeletapi.Config{Kubelet: k, ClientCAs: pool, Cert: serving})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &rest.Config{Host: "https://" + ln.Addr().String(), TLSClientConfig: rest.TLSClientConfig{Insecure: true,
		CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}}
}

// runExec execs cmd in default/pod/app through the kubelet API.
func runExec(t *testing.T, rc *rest.Config, websocket bool, pod string, cmd []string, o remotecommand.StreamOptions) (string, string, error) {
	t.Helper()
	q := url.Values{"command": cmd, "stdout": {"1"}, "stderr": {"1"}}
	if o.Stdin != nil {
		q.Set("stdin", "1")
	}
	if o.Tty {
		q.Set("tty", "1")
		q.Del("stderr")
	}
	u, _ := url.Parse(rc.Host + "/exec/default/" + pod + "/app?" + q.Encode())
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
	var out, errb bytes.Buffer
	o.Stdout = &out
	if !o.Tty {
		o.Stderr = &errb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = ex.StreamWithContext(ctx, o)
	return out.String(), errb.String(), err
}

type fixedSize struct{ n int }

func (s *fixedSize) Next() *remotecommand.TerminalSize {
	if s.n > 0 {
		select {}
	}
	s.n++
	return &remotecommand.TerminalSize{Width: 120, Height: 40}
}

func TestPrivilegedKubeletAPI(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	cfg := kubelet.NewTestEnv(t, client)
	web := kubelet.NewTestPod("web-0", "a1111111-2222-3333-4444-555555555555")
	ticker := kubelet.NewTestPod("ticker", "a2222222-2222-3333-4444-555555555555")
	ticker.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"}
	for _, p := range []*v1.Pod{web, ticker} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	k := kubelet.StartTestKubelet(t, cfg)
	for _, name := range []string{"web-0", "ticker"} {
		kubelet.WaitPod(t, client, name, "Running", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	}
	rc := apiClient(t, k)

	// exec: output, stderr, exit codes, over SPDY and WebSocket.
	for _, ws := range []bool{false, true} {
		out, errOut, err := runExec(t, rc, ws, "web-0", []string{"/bin/sh", "-c", "echo hello $HOSTNAME; echo oops >&2"}, remotecommand.StreamOptions{})
		if err != nil || out != "hello web-0\n" || errOut != "oops\n" {
			t.Fatalf("exec (websocket=%v): out %q err %q: %v", ws, out, errOut, err)
		}
		_, _, err = runExec(t, rc, ws, "web-0", []string{"/bin/sh", "-c", "exit 7"}, remotecommand.StreamOptions{})
		if ee, ok := err.(utilexec.ExitError); !ok || ee.ExitStatus() != 7 {
			t.Fatalf("exit 7 (websocket=%v): %#v", ws, err)
		}
		_, _, err = runExec(t, rc, ws, "web-0", []string{"/no/such/binary"}, remotecommand.StreamOptions{})
		if err == nil {
			t.Fatalf("exec of a missing binary succeeded (websocket=%v)", ws)
		}
	}
	// stdin reaches the process and its end is an EOF.
	out, _, err := runExec(t, rc, false, "web-0", []string{"/bin/sh", "-c", "cat; echo done"}, remotecommand.StreamOptions{Stdin: strings.NewReader("from stdin\n")})
	if err != nil || out != "from stdin\ndone\n" {
		t.Fatalf("exec with stdin: %q %v", out, err)
	}
	// kubectl cp: a tar on stdin unpacked by tar in the container, then read back with tar.
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	body := strings.Repeat("skiff cp payload\n", 4000)
	_ = tw.WriteHeader(&tar.Header{Name: "cp/file.txt", Mode: 0o644, Size: int64(len(body))})
	_, _ = tw.Write([]byte(body))
	_ = tw.Close()
	if out, errOut, err := runExec(t, rc, false, "web-0", []string{"tar", "xf", "-", "-C", "/tmp"}, remotecommand.StreamOptions{Stdin: bytes.NewReader(archive.Bytes())}); err != nil {
		t.Fatalf("cp into the pod: %v %q %q", err, out, errOut)
	}
	out, _, err = runExec(t, rc, false, "web-0", []string{"tar", "cf", "-", "-C", "/tmp", "cp"}, remotecommand.StreamOptions{})
	if err != nil {
		t.Fatalf("cp from the pod: %v", err)
	}
	tr := tar.NewReader(strings.NewReader(out))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "cp/" {
		t.Fatalf("tar from the pod: %v %+v", err, hdr)
	}
	if hdr, err = tr.Next(); err != nil || hdr.Name != "cp/file.txt" {
		t.Fatalf("tar from the pod: %v %+v", err, hdr)
	}
	if got, _ := io.ReadAll(tr); string(got) != body {
		t.Fatalf("copied file differs: %d bytes, want %d", len(got), len(body))
	}
	// A terminal with the client's size.
	out, _, err = runExec(t, rc, false, "web-0", []string{"/bin/sh", "-c", "stty size; tty"}, remotecommand.StreamOptions{Tty: true, TerminalSizeQueue: &fixedSize{}})
	if err != nil || !strings.Contains(out, "40 120") || !strings.Contains(out, "/dev/pts/") {
		t.Fatalf("exec with a tty: %q %v", out, err)
	}

	// port-forward to the testapp's HTTP port inside the pod's namespace.
	u, _ := url.Parse(rc.Host + "/portForward/default/web-0")
	rt, up, err := spdy.RoundTripperFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u), []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pfDone := make(chan error, 1)
	go func() { pfDone <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-pfDone:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward never became ready")
	}
	ports, _ := pf.GetPorts()
	hc := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 2; i++ {
		resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", ports[0].Local))
		if err != nil {
			t.Fatalf("GET through port-forward: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != "web-0" {
			t.Fatalf("GET /hostname through port-forward: %q", b)
		}
	}
	close(stop)
	<-pfDone

	// attach: new output of the running instance.
	au, _ := url.Parse(rc.Host + "/attach/default/ticker/app?stdout=1")
	ax, err := remotecommand.NewSPDYExecutor(rc, "POST", au)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	actx, acancel := context.WithCancel(ctx)
	attachDone := make(chan error, 1)
	go func() { attachDone <- ax.StreamWithContext(actx, remotecommand.StreamOptions{Stdout: pw}) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "tick ") {
		t.Fatalf("attach output: %q %v", line, err)
	}
	acancel()
	pr.Close()
	<-attachDone

	// logs through the API, and Status errors for what does not exist.
	hcTLS := tlsClient(t, rc)
	resp, err := hcTLS.Get(rc.Host + "/containerLogs/default/ticker/app?tailLines=2")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); resp.StatusCode != 200 || len(lines) != 2 || !strings.HasPrefix(lines[0], "tick ") {
		t.Fatalf("logs tailLines=2: %d %q", resp.StatusCode, b)
	}
	// --since and --timestamps, from the log clock's samples.
	logLines := func(q string) []string {
		t.Helper()
		resp, err := hcTLS.Get(rc.Host + "/containerLogs/default/ticker/app?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("logs %s: %d %s", q, resp.StatusCode, b)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(logLines("")) < 25 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	all := logLines("")
	recent := logLines("sinceSeconds=1")
	if len(recent) == 0 || len(recent) >= len(all)-5 || !strings.HasPrefix(recent[0], "tick ") {
		t.Fatalf("sinceSeconds=1 gave %d of %d lines: %q", len(recent), len(all), recent)
	}
	stamped := logLines("timestamps=true&tailLines=3")
	var prev time.Time
	for _, l := range stamped {
		ts, rest, _ := strings.Cut(l, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasPrefix(rest, "tick ") || time.Since(at) > 10*time.Second || at.Before(prev) {
			t.Fatalf("timestamped lines: %q (%v)", stamped, err)
		}
		prev = at
	}
	if len(stamped) != 3 {
		t.Fatalf("timestamps with tailLines=3: %q", stamped)
	}

	for p, want := range map[string]int{
		"/exec/default/ghost/app?command=ls&stdout=1":  404,
		"/exec/default/web-0/nope?command=ls&stdout=1": 400,
		"/portForward/default/ghost":                   404,
		"/containerLogs/default/web-0/app?previous=1":  400,
	} {
		resp, err := hcTLS.Get(rc.Host + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", p, resp.StatusCode, want)
		}
	}
}

func tlsClient(t *testing.T, rc *rest.Config) *http.Client {
	t.Helper()
	c, err := tls.X509KeyPair(rc.TLSClientConfig.CertData, rc.TLSClientConfig.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{c}}}}
}

// kubectl attach -i to a container with stdin: true. Needs container.go to
// start such containers with taskIO (a stdin FIFO); skipped until it does.
func TestPrivilegedKubeletAPIAttachStdin(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	cfg := kubelet.NewTestEnv(t, client)
	repl := kubelet.NewTestPod("repl", "a3333333-2222-3333-4444-555555555555")
	repl.Spec.Containers[0].Stdin = true
	repl.Spec.Containers[0].Command = []string{"/bin/sh", "-c", `while read l; do echo "got $l"; done; echo eof`}
	if _, err := client.CoreV1().Pods("default").Create(ctx, repl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k := kubelet.StartTestKubelet(t, cfg)
	kubelet.WaitPod(t, client, "repl", "Running", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	// Without a stdin pipe the loop reads /dev/null, exits and restarts:
	// catch it running.
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = k.CheckAttach("default", "repl", "app", true); err == nil || strings.Contains(err.Error(), "without a stdin pipe") {
			break
		}
	}
	if err != nil {
		if strings.Contains(err.Error(), "without a stdin pipe") {
			t.Skip("container.go does not start spec.stdin containers with taskIO yet")
		}
		t.Fatal(err)
	}
	rc := apiClient(t, k)
	u, _ := url.Parse(rc.Host + "/attach/default/repl/app?stdin=1&stdout=1")
	// Two sessions: closing the first one's input is not the container's EOF.
	for _, word := range []string{"hello", "again"} {
		ex, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		actx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- ex.StreamWithContext(actx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW}) }()
		lines := make(chan string, 10)
		go func() {
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// The output tail starts once the session is set up; keep sending
		// until the reply shows up.
		got := false
		for i := 0; i < 50 && !got; i++ {
			fmt.Fprintln(inW, word)
			select {
			case l := <-lines:
				got = l == "got "+word
			case <-time.After(200 * time.Millisecond):
			}
		}
		inW.Close()
		cancel()
		outW.Close()
		<-done
		if !got {
			t.Fatalf("no reply to %q through attach", word)
		}
	}
}
