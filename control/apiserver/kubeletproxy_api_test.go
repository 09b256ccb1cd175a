package apiserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	clientremotecommand "k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// TestKubeletProxyAPIChecks covers what kubectl checks on its own side:
// defaulting, a missing command, wrapped kubelet errors, node identities
// and discovery.
func TestKubeletProxyAPIChecks(t *testing.T) {
	run := startTest(t)
	fk := &fakeKubelet{t: t, proceed: make(chan struct{})}
	port := startFakeKubelet(t, run, fk)
	cs := clients(t, run, false)
	const ns = "kp-api"
	ctx := context.Background()
	mkNS(t, cs, ns)
	mkNode(t, cs, "kp-node", port)
	mkPod(t, cs, ns, "p1", "kp-node", "c1")
	mkPod(t, cs, ns, "p2", "kp-node", "c1", "waiting", "textfail")

	// One container: the container option may be left out.
	b, err := cs.CoreV1().Pods(ns).GetLogs("p1", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || !strings.HasPrefix(string(b), "log of kp-api/p1/c1\n") {
		t.Fatalf("logs p1: %q %v", b, err)
	}
	_, err = cs.CoreV1().Pods(ns).GetLogs("p2", &corev1.PodLogOptions{}).Stream(ctx)
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "a container name must be specified for pod p2, choose one of: [c1 waiting textfail]") {
		t.Fatalf("logs p2 without a container: %v", err)
	}
	_, err = cs.CoreV1().Pods(ns).GetLogs("p2", &corev1.PodLogOptions{Container: "textfail"}).Stream(ctx)
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "kubelet: log file of textfail is missing") {
		t.Fatalf("plain-text kubelet error: %v", err)
	}
	_, err = cs.CoreV1().Pods(ns).GetLogs("p1", &corev1.PodLogOptions{Container: "nope"}).Stream(ctx)
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "container nope is not valid for pod p1") {
		t.Fatalf("logs of a wrong container: %v", err)
	}
	_, err = cs.CoreV1().Pods(ns).GetLogs("nope", &corev1.PodLogOptions{}).Stream(ctx)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("logs of a missing pod: %v", err)
	}
	for q, want := range map[string]string{
		"tailLines=-1": "tailLines",
		"follow=maybe": "follow",
		"sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z": "at most one of sinceTime or sinceSeconds",
		"sinceTime=yesterday":                           "sinceTime",
	} {
		res := cs.CoreV1().RESTClient().Get().RequestURI("/api/v1/namespaces/" + ns + "/pods/p1/log?" + q).Do(ctx)
		if err := res.Error(); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("log?%s: %v, want 400 naming %s", q, err, want)
		}
	}

	// exec without a command, without streams, with a bad method.
	post := func(uri string) error {
		return cs.CoreV1().RESTClient().Post().RequestURI(uri).Do(ctx).Error()
	}
	if err := post("/api/v1/namespaces/" + ns + "/pods/p1/exec?stdout=true"); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "you must specify a command") {
		t.Fatalf("exec without command: %v", err)
	}
	if err := post("/api/v1/namespaces/" + ns + "/pods/p1/exec?command=ls"); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "stdin, stdout and stderr") {
		t.Fatalf("exec without streams: %v", err)
	}
	if err := post("/api/v1/namespaces/" + ns + "/pods/p1/exec?command=ls&stdout=true"); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "Upgrade request required") {
		t.Fatalf("exec without an upgrade: %v", err)
	}
	if err := post("/api/v1/namespaces/" + ns + "/pods/p1/portforward?ports=70000"); !apierrors.IsBadRequest(err) {
		t.Fatalf("portforward to port 70000: %v", err)
	}
	if err := post("/api/v1/namespaces/" + ns + "/pods/p1/log"); !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("POST log: %v", err)
	}

	// WebSocket clients: v5 is translated to SPDY by the API server (the
	// fake kubelet, like a real one, speaks WebSocket only up to v4); v4 is
	// passed through to the kubelet's own WebSocket server.
	wsExec := func(in string, cmd []string, protocols ...string) (string, error) {
		t.Helper()
		tty := cmd[0] == "size"
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("p1").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdin: in != "", Stdout: true, Stderr: !tty, TTY: tty}, scheme.ParameterCodec).URL()
		var ex clientremotecommand.Executor
		var err error
		if protocols[0] == "spdy" {
			ex, err = clientremotecommand.NewSPDYExecutor(run.AdminConfig, http.MethodPost, u)
		} else {
			ex, err = clientremotecommand.NewWebSocketExecutorForProtocols(run.AdminConfig, http.MethodGet, u.String(), protocols...)
		}
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		opts := clientremotecommand.StreamOptions{Stdout: &out, Tty: tty}
		if !tty {
			opts.Stderr = &errOut
		} else {
			opts.TerminalSizeQueue = &oneSize{size: &clientremotecommand.TerminalSize{Width: 120, Height: 40}}
		}
		if in != "" {
			opts.Stdin = strings.NewReader(in)
		}
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		err = ex.StreamWithContext(sctx, opts)
		return out.String() + errOut.String(), err
	}
	if out, err := wsExec("via websocket\n", []string{"cat"}, "v5.channel.k8s.io"); err != nil || out != "via websocket\n" {
		t.Fatalf("WebSocket v5 exec cat: %q %v", out, err)
	}
	var exitErr utilexec.ExitError
	if out, err := wsExec("", []string{"fail", "4"}, "v5.channel.k8s.io"); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 4 || out != "failing on purpose\n" {
		t.Fatalf("WebSocket v5 exec fail 4: %q %v, want exit code 4", out, err)
	}
	for _, proto := range []string{"v5.channel.k8s.io", "spdy"} {
		if out, err := wsExec("", []string{"size"}, proto); err != nil || out != "tty=true 120x40\r\n" && out != "tty=true 120x40\n" {
			t.Fatalf("%s exec with a TTY: %q %v, want the terminal size passed on", proto, out, err)
		}
	}
	if strings.Contains(fk.requests(), "upgrade=websocket") {
		t.Fatalf("v5 WebSocket requests reached the kubelet as WebSocket:\n%s", fk.requests())
	}
	if out, err := wsExec("", []string{"echo", "v4", "passthrough"}, "v4.channel.k8s.io"); err != nil || out != "v4 passthrough\n" {
		t.Fatalf("WebSocket v4 exec echo: %q %v", out, err)
	}
	if !strings.Contains(fk.requests(), "GET /exec/kp-api/p1/c1?command=echo&command=v4&command=passthrough&error=1&output=1&stderr=true&stdout=true upgrade=websocket v4.channel.k8s.io") {
		t.Fatalf("the v4 WebSocket request did not reach the kubelet as WebSocket:\n%s", fk.requests())
	}

	// Node identities may not reach into containers, not even their own.
	nodeCS := clientFor(t, run, "system:node:kp-node", "system:nodes")
	err = nodeCS.CoreV1().RESTClient().Post().RequestURI("/api/v1/namespaces/" + ns + "/pods/p1/exec?command=ls&stdout=true").Do(ctx).Error()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "pods/exec") {
		t.Fatalf("node exec: %v, want 403", err)
	}
	for _, sub := range []string{"exec", "attach", "portforward", "log"} {
		err := nodeCS.CoreV1().RESTClient().Get().RequestURI("/api/v1/namespaces/" + ns + "/pods/p1/" + sub + "?command=ls&stdout=true").Do(ctx).Error()
		if !apierrors.IsForbidden(err) {
			t.Fatalf("node GET %s: %v, want 403", sub, err)
		}
	}
	if _, err := nodeCS.CoreV1().Pods(ns).Get(ctx, "p1", metav1.GetOptions{}); err != nil {
		t.Fatalf("node get pod: %v", err)
	}
	if strings.Contains(fk.requests(), "ls") {
		t.Fatalf("a refused request reached the kubelet:\n%s", fk.requests())
	}

	// Discovery lists the subresources with their kinds and verbs.
	rl, err := cs.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pods/log": "Pod [get]", "pods/exec": "PodExecOptions [create get]",
		"pods/attach": "PodAttachOptions [create get]", "pods/portforward": "PodPortForwardOptions [create get]"}
	for _, r := range rl.APIResources {
		if w, ok := want[r.Name]; ok {
			if got := fmt.Sprintf("%s %v", r.Kind, r.Verbs); got != w {
				t.Errorf("discovery %s: %s, want %s", r.Name, got, w)
			}
			delete(want, r.Name)
		}
	}
	if len(want) > 0 {
		t.Fatalf("discovery lacks %v", want)
	}
}

// TestKubeletClientCertificate checks the PKI issues the kubelet client
// certificate once, with the agreed CN, client usage and the cluster CA.
func TestKubeletClientCertificate(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadOrCreatePKI(dir, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(p.KubeletClient.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != KubeletClientCN || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || c.CheckSignatureFrom(p.CACert) != nil {
		t.Fatalf("kubelet client certificate: CN %q usage %v", c.Subject.CommonName, c.ExtKeyUsage)
	}
	p2, err := LoadOrCreatePKI(dir, []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if string(p2.KubeletClient.Certificate[0]) != string(p.KubeletClient.Certificate[0]) {
		t.Fatal("the kubelet client certificate was issued again on restart")
	}
}

// oneSize is a terminal size queue with one entry.
type oneSize struct {
	size *clientremotecommand.TerminalSize
}

func (q *oneSize) Next() *clientremotecommand.TerminalSize {
	s := q.size
	q.size = nil
	return s // nil ends the client's resize loop
}
