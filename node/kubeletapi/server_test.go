package kubeletapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
	utilexec "k8s.io/utils/exec"

	"github.com/skiffnet/skiff/control/kubelet"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// client issues a client certificate for cn, as PEM.
func (ca *testCA) client(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// fakeKubelet plays a node with pod default/web (container app). Exec
// understands a few commands: echo, stderr, exit N, readline, cat, tty.
type fakeKubelet struct {
	mu       sync.Mutex
	logOpts  kubelet.LogOptions
	logs     string
	portSeen []int32
	blocked  chan struct{} // closed when a "block" exec saw its context end
}

func notFound(pod string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, pod)
}

func (f *fakeKubelet) Logs(_ context.Context, ns, pod, ctr string, o kubelet.LogOptions) (io.ReadCloser, error) {
	if ns != "default" || pod != "web" {
		return nil, notFound(pod)
	}
	if ctr != "app" {
		return nil, apierrors.NewBadRequest("container " + ctr + " is not valid for pod web")
	}
	f.mu.Lock()
	f.logOpts = o
	f.mu.Unlock()
	return io.NopCloser(strings.NewReader(f.logs)), nil
}

func (f *fakeKubelet) CheckRunning(ns, pod, ctr string) error {
	if ns != "default" || pod != "web" {
		return notFound(pod)
	}
	if ctr != "app" {
		return apierrors.NewBadRequest("container " + ctr + " is not valid for pod web")
	}
	return nil
}

func (f *fakeKubelet) Exec(ctx context.Context, ns, pod, ctr string, cmd []string, s kubelet.Streams) error {
	switch cmd[0] {
	case "echo":
		fmt.Fprintln(s.Stdout, strings.Join(cmd[1:], " "))
	case "stderr":
		fmt.Fprintln(s.Stderr, strings.Join(cmd[1:], " "))
	case "exit":
		var code int
		fmt.Sscan(cmd[1], &code)
		fmt.Fprintln(s.Stdout, "exiting")
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	case "readline":
		if s.Stdin == nil {
			return fmt.Errorf("no stdin")
		}
		line, err := bufio.NewReader(s.Stdin).ReadString('\n')
		if err != nil {
			return err
		}
		fmt.Fprint(s.Stdout, "got: "+line)
	case "cat":
		if s.Stdin == nil {
			return fmt.Errorf("no stdin")
		}
		if _, err := io.Copy(s.Stdout, s.Stdin); err != nil {
			return err
		}
		fmt.Fprintln(s.Stdout, "<eof>")
	case "block":
		f.mu.Lock()
		f.blocked = make(chan struct{})
		ch := f.blocked
		f.mu.Unlock()
		fmt.Fprintln(s.Stdout, "blocking")
		<-ctx.Done() // the client going away must end this
		close(ch)
		return ctx.Err()
	case "tty":
		select {
		case sz := <-s.Resize:
			fmt.Fprintf(s.Stdout, "tty=%v %dx%d\n", s.TTY, sz.Width, sz.Height)
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		return fmt.Errorf("%s: not found", cmd[0])
	}
	return nil
}

func (f *fakeKubelet) CheckAttach(ns, pod, ctr string, stdin bool) error {
	if stdin {
		return apierrors.NewBadRequest("container " + ctr + " of pod " + pod + " does not accept stdin")
	}
	return f.CheckRunning(ns, pod, ctr)
}

func (f *fakeKubelet) Attach(ctx context.Context, ns, pod, ctr string, s kubelet.Streams) error {
	fmt.Fprintln(s.Stdout, "attached to "+ctr)
	return nil
}

func (f *fakeKubelet) PodNetNS(ns, pod string) (string, error) {
	if ns != "default" || pod != "web" {
		return "", notFound(pod)
	}
	return "/run/netns/fake", nil
}

func (f *fakeKubelet) PortForward(ctx context.Context, ns, pod string, port int32, stream io.ReadWriteCloser) error {
	f.mu.Lock()
	f.portSeen = append(f.portSeen, port)
	f.mu.Unlock()
	line, err := bufio.NewReader(stream).ReadString('\n')
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stream, "port %d says %s", port, strings.ToUpper(line))
	return err
}

type fixture struct {
	base  string
	ca    *testCA
	fake  *fakeKubelet
	right *rest.Config
}

func startServer(t *testing.T) *fixture {
	t.Helper()
	ca := newTestCA(t)
	cert, err := EnsureServingCert(t.TempDir(), "node-a", []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeKubelet{logs: "line1\nline2\n"}
	s, err := New(Config{Kubelet: fake, ClientCAs: ca.pool, Cert: cert, StreamCreationTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	crt, key := ca.client(t, APIServerClientCN)
	base := "https://" + ln.Addr().String()
	return &fixture{base: base, ca: ca, fake: fake, right: &rest.Config{Host: base,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: crt, KeyData: key}}}
}

func httpClient(t *testing.T, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true}
	if certPEM != nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decodeStatus(t *testing.T, b []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(b, &st); err != nil || st.Kind != "Status" || st.APIVersion != "v1" {
		t.Fatalf("want a Status body, got %q (%v)", b, err)
	}
	return st
}

func TestAuthentication(t *testing.T) {
	f := startServer(t)
	logs := f.base + "/containerLogs/default/web/app"

	code, body := get(t, httpClient(t, nil, nil), f.base+"/healthz")
	if code != 200 || string(body) != "ok" {
		t.Fatalf("healthz without a certificate: %d %q", code, body)
	}
	code, body = get(t, httpClient(t, nil, nil), logs)
	if st := decodeStatus(t, body); code != 401 || st.Code != 401 || st.Reason != metav1.StatusReasonUnauthorized {
		t.Fatalf("no certificate: %d %+v", code, st)
	}
	other := newTestCA(t)
	crt, key := other.client(t, APIServerClientCN)
	code, body = get(t, httpClient(t, crt, key), logs)
	if st := decodeStatus(t, body); code != 401 || !strings.Contains(st.Message, "not accepted") {
		t.Fatalf("certificate of another CA: %d %+v", code, st)
	}
	crt, key = f.ca.client(t, "system:node:node-b")
	code, body = get(t, httpClient(t, crt, key), logs)
	if st := decodeStatus(t, body); code != 403 || st.Reason != metav1.StatusReasonForbidden || !strings.Contains(st.Message, "system:node:node-b") {
		t.Fatalf("wrong identity: %d %+v", code, st)
	}
	// Forbidden before anything else: exec, port-forward and unknown paths too.
	for _, p := range []string{"/exec/default/web/app?command=echo&stdout=1", "/portForward/default/web", "/pods"} {
		if code, _ := get(t, httpClient(t, crt, key), f.base+p); code != 403 {
			t.Fatalf("%s with the wrong identity: %d", p, code)
		}
	}
	crt, key = f.ca.client(t, APIServerClientCN)
	code, body = get(t, httpClient(t, crt, key), logs)
	if code != 200 || string(body) != "line1\nline2\n" {
		t.Fatalf("API server identity: %d %q", code, body)
	}
	code, body = get(t, httpClient(t, crt, key), f.base+"/pods")
	if st := decodeStatus(t, body); code != 404 || st.Code != 404 {
		t.Fatalf("unknown path: %d %+v", code, st)
	}
}

func TestLogsQuery(t *testing.T) {
	f := startServer(t)
	crt, key := f.ca.client(t, APIServerClientCN)
	c := httpClient(t, crt, key)
	code, body := get(t, c, f.base+"/containerLogs/default/web/app?follow=true&previous=1&tailLines=5&sinceSeconds=60&limitBytes=100&timestamps=true")
	if code != 200 {
		t.Fatalf("logs: %d %s", code, body)
	}
	want := kubelet.LogOptions{Follow: true, Previous: true, TailLines: 5, SinceSeconds: 60, LimitBytes: 100, Timestamps: true}
	f.fake.mu.Lock()
	got := f.fake.logOpts
	f.fake.mu.Unlock()
	if got != want {
		t.Fatalf("options: got %+v want %+v", got, want)
	}
	for q, wantCode := range map[string]int{
		"/containerLogs/default/web/app?tailLines=x":      400,
		"/containerLogs/default/web/app?tailLines=-1":     400,
		"/containerLogs/default/web/app?sinceSeconds=0":   400,
		"/containerLogs/default/web/app?limitBytes=0":     400,
		"/containerLogs/default/web/app?follow=maybe":     400,
		"/containerLogs/default/nope/app":                 404,
		"/containerLogs/default/web/other":                400,
		"/containerLogs/default/web/app?tailLines=0":      200,
		"/containerLogs/default/web/app?follow=false&x=1": 200,
	} {
		code, body := get(t, c, f.base+q)
		if code != wantCode {
			t.Errorf("%s: %d %s, want %d", q, code, body, wantCode)
		}
		if code != 200 {
			if st := decodeStatus(t, body); int(st.Code) != wantCode {
				t.Errorf("%s: Status code %d", q, st.Code)
			}
		}
	}
	o, err := ParseLogOptions(url.Values{"sinceTime": {"2024-01-02T15:04:05Z"}})
	if err != nil || !o.SinceTime.Equal(time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)) {
		t.Fatalf("sinceTime: %+v %v", o, err)
	}
	if _, err := ParseLogOptions(url.Values{"sinceTime": {"yesterday"}}); !apierrors.IsBadRequest(err) {
		t.Fatalf("bad sinceTime: %v", err)
	}
}

// execVia runs cmd through executor kind ("spdy" or "websocket").
func execVia(t *testing.T, f *fixture, kind string, cmd []string, opts remotecommand.StreamOptions) (string, string, error) {
	t.Helper()
	q := url.Values{"command": cmd, "stdout": {"1"}}
	if opts.Stdin != nil {
		q.Set("stdin", "1")
	}
	if opts.Stderr != nil {
		q.Set("stderr", "1")
	}
	if opts.Tty {
		q.Set("tty", "1")
	}
	u, _ := url.Parse(f.base + "/exec/default/web/app?" + q.Encode())
	var ex remotecommand.Executor
	var err error
	switch kind {
	case "spdy":
		ex, err = remotecommand.NewSPDYExecutor(f.right, "POST", u)
	case "websocket":
		ex, err = remotecommand.NewWebSocketExecutorForProtocols(f.right, "GET", u.String(), "v4.channel.k8s.io")
	}
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	opts.Stdout = &out
	if opts.Stderr != nil {
		opts.Stderr = &errb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = ex.StreamWithContext(ctx, opts)
	return out.String(), errb.String(), err
}

type oneSize struct{ sent bool }

func (s *oneSize) Next() *remotecommand.TerminalSize {
	if s.sent {
		select {} // no more changes; the executor stops calling when done
	}
	s.sent = true
	return &remotecommand.TerminalSize{Width: 120, Height: 40}
}

func TestExecRoundTrip(t *testing.T) {
	f := startServer(t)
	for _, kind := range []string{"spdy", "websocket"} {
		t.Run(kind, func(t *testing.T) {
			out, _, err := execVia(t, f, kind, []string{"echo", "hello", "world"}, remotecommand.StreamOptions{})
			if err != nil || out != "hello world\n" {
				t.Fatalf("echo: %q %v", out, err)
			}
			_, errOut, err := execVia(t, f, kind, []string{"stderr", "oops"}, remotecommand.StreamOptions{Stderr: &bytes.Buffer{}})
			if err != nil || errOut != "oops\n" {
				t.Fatalf("stderr: %q %v", errOut, err)
			}
			out, _, err = execVia(t, f, kind, []string{"exit", "3"}, remotecommand.StreamOptions{})
			var ce utilexec.CodeExitError
			if ee, ok := err.(utilexec.ExitError); !ok || ee.ExitStatus() != 3 || out != "exiting\n" {
				t.Fatalf("exit 3: %q %#v (%T)", out, err, ce)
			}
			out, _, err = execVia(t, f, kind, []string{"readline"}, remotecommand.StreamOptions{Stdin: strings.NewReader("ping\n")})
			if err != nil || out != "got: ping\n" {
				t.Fatalf("stdin: %q %v", out, err)
			}
			out, _, err = execVia(t, f, kind, []string{"tty"}, remotecommand.StreamOptions{Tty: true, TerminalSizeQueue: &oneSize{}})
			if err != nil || out != "tty=true 120x40\n" {
				t.Fatalf("tty: %q %v", out, err)
			}
			_, _, err = execVia(t, f, kind, []string{"nosuchcmd"}, remotecommand.StreamOptions{})
			if err == nil || !strings.Contains(err.Error(), "nosuchcmd: not found") {
				t.Fatalf("failing exec: %v", err)
			}
		})
	}
	// SPDY can half-close stdin: cat sees EOF.
	out, _, err := execVia(t, f, "spdy", []string{"cat"}, remotecommand.StreamOptions{Stdin: strings.NewReader("a\nb\n")})
	if err != nil || out != "a\nb\n<eof>\n" {
		t.Fatalf("cat: %q %v", out, err)
	}
}

func TestExecErrorsBeforeUpgrade(t *testing.T) {
	f := startServer(t)
	crt, key := f.ca.client(t, APIServerClientCN)
	c := httpClient(t, crt, key)
	for p, want := range map[string]int{
		"/exec/default/nope/app?command=ls&stdout=1": 404,
		"/exec/default/web/bad?command=ls&stdout=1":  400,
		"/exec/default/web/app?stdout=1":             400,
		"/exec/default/web/app?command=ls":           400, // no stream asked for
		"/portForward/default/nope":                  404,
		"/attach/default/web/app?stdin=1&stdout=1":   400,
		"/attach/default/nope/app?stdout=1":          404,
	} {
		code, body := get(t, c, f.base+p)
		if st := decodeStatus(t, body); code != want || int(st.Code) != want {
			t.Errorf("%s: %d %+v, want %d", p, code, st, want)
		}
	}
}

func TestAttach(t *testing.T) {
	f := startServer(t)
	u, _ := url.Parse(f.base + "/attach/default/web/app?stdout=1")
	ex, err := remotecommand.NewSPDYExecutor(f.right, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "attached to app\n" {
		t.Fatalf("attach: %q %v", out.String(), err)
	}
}

func TestPortForwardSPDY(t *testing.T) {
	f := startServer(t)
	u, _ := url.Parse(f.base + "/portForward/default/web")
	tr, up, err := spdy.RoundTripperFor(f.right)
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(up, &http.Client{Transport: tr}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	defer func() {
		close(stop)
		if err := <-errc; err != nil {
			t.Errorf("ForwardPorts: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward never ready")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatal(ports, err)
	}
	for i := 0; i < 2; i++ { // one forwarder serves many connections
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "hi %d\n", i)
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || line != fmt.Sprintf("port 8080 says HI %d\n", i) {
			t.Fatalf("forwarded reply %d: %q %v", i, line, err)
		}
	}
}

func TestServingCert(t *testing.T) {
	dir := t.TempDir()
	ip := net.ParseIP("192.0.2.7")
	c1, err := EnsureServingCert(dir, "node-a", []net.IP{ip})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c1.Certificate[0])
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "node-a" || len(leaf.IPAddresses) != 2 {
		t.Fatalf("SANs: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	c2, err := EnsureServingCert(dir, "node-a", []net.IP{ip})
	if err != nil || !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Fatalf("covering certificate was not reused: %v", err)
	}
	c3, err := EnsureServingCert(dir, "node-a", []net.IP{net.ParseIP("192.0.2.8")})
	if err != nil || bytes.Equal(c1.Certificate[0], c3.Certificate[0]) {
		t.Fatalf("new node IP did not regenerate: %v", err)
	}
	leaf, _ = x509.ParseCertificate(c3.Certificate[0])
	if !leaf.IPAddresses[1].Equal(net.ParseIP("192.0.2.8")) {
		t.Fatalf("SANs after regeneration: %v", leaf.IPAddresses)
	}
}

// kubectl 1.30+ tries a WebSocket v5 executor first and falls back to SPDY
// on an upgrade failure (kubectl's shouldFallback). The kubelet speaks v4
// at most, so the first attempt must fail as an upgrade failure.
func TestKubectlWebSocketFallback(t *testing.T) {
	f := startServer(t)
	u, _ := url.Parse(f.base + "/exec/default/web/app?command=echo&command=fell&command=back&stdout=true")
	ws, err := remotecommand.NewWebSocketExecutor(f.right, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := remotecommand.NewSPDYExecutor(f.right, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	fellBack := false
	ex, _ := remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
		fellBack = httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		return fellBack
	})
	var out bytes.Buffer
	if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &out}); err != nil || out.String() != "fell back\n" || !fellBack {
		t.Fatalf("fallback exec: %q %v (fell back: %v)", out.String(), err, fellBack)
	}
}

// A client that disconnects ends the exec's context on the node, so an
// abandoned shell does not keep running.
func TestExecEndsWhenClientLeaves(t *testing.T) {
	f := startServer(t)
	u, _ := url.Parse(f.base + "/exec/default/web/app?command=block&stdout=1")
	ex, err := remotecommand.NewSPDYExecutor(f.right, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: pw}) }()
	if line, err := bufio.NewReader(pr).ReadString('\n'); err != nil || line != "blocking\n" {
		t.Fatalf("block: %q %v", line, err)
	}
	f.fake.mu.Lock()
	blocked := f.fake.blocked
	f.fake.mu.Unlock()
	cancel()
	pr.Close()
	<-done
	select {
	case <-blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("exec context still alive after the client disconnected")
	}
}
