package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// KubeletClientCN is the CommonName of the client certificate the API
// server presents to kubelets; a kubelet admits exactly this identity to its
// logs, exec, attach and port-forward endpoints.
const KubeletClientCN = "skiff-apiserver-kubelet-client"

// DefaultKubeletPort is used when a Node does not report
// status.daemonEndpoints.kubeletEndpoint.Port.
const DefaultKubeletPort = 10250

// kubeletSubresources are the pod subresources served by the node's
// kubelet; the API server validates the request and proxies it.
var kubeletSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

// kubeletClient holds the transport to node kubelets, built on first use
// from the PKI's kubelet client certificate.
type kubeletClient struct {
	once sync.Once
	tls  *tls.Config
	rt   http.RoundTripper
	err  error
}

// kubeletTransport returns the shared transport to kubelets. It presents
// the API server's kubelet client certificate (CN KubeletClientCN, signed
// by the cluster CA). It does not verify the kubelet's serving
// certificate: kubelets serve a self-signed certificate, and kube-apiserver
// behaves the same way when it runs without --kubelet-certificate-authority.
// The kubelet, in turn, authenticates the API server by its client
// certificate, so logs and exec sessions are never handed to a stranger.
func (s *Server) kubeletTransport() (http.RoundTripper, error) {
	s.kubelet.once.Do(func() {
		if s.PKI == nil || len(s.PKI.KubeletClient.Certificate) == 0 {
			s.kubelet.err = errors.New("the API server has no kubelet client certificate; restart `skiff server` so that it issues <data-dir>/pki/apiserver-kubelet-client.crt")
			return
		}
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		s.kubelet.tls = &tls.Config{
			Certificates:       []tls.Certificate{s.PKI.KubeletClient},
			InsecureSkipVerify: true, // kubelets serve self-signed certificates; see the doc comment
			MinVersion:         tls.VersionTLS12,
			NextProtos:         []string{"http/1.1"},
		}
		t := &http.Transport{
			DialContext:         d.DialContext,
			TLSClientConfig:     s.kubelet.tls,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 4,
		}
		s.kubelet.rt = &statusRoundTripper{rt: t}
	})
	return s.kubelet.rt, s.kubelet.err
}

// handleKubeletSub serves GET pods/{name}/log and GET/POST
// pods/{name}/{exec,attach,portforward}: it checks the pod, the container
// and the options, finds the kubelet of the pod's node and proxies the
// request there (upgrading to SPDY or WebSocket for the streaming ones).
func (s *Server) handleKubeletSub(w http.ResponseWriter, r *http.Request, req *request) {
	if r.Method != http.MethodGet && (req.sub == "log" || r.Method != http.MethodPost) {
		writeError(w, apierrors.NewMethodNotSupported(schemaGR("", "pods/"+req.sub), r.Method))
		return
	}
	obj, _, err := s.getObject(r.Context(), req.res, req.namespace, req.name)
	if err != nil {
		writeError(w, err)
		return
	}
	pod := obj.(*corev1.Pod)
	path, query, err := kubeletPath(pod, req.sub, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	if pod.Spec.NodeName == "" {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	hostPort, err := s.kubeletAddress(r.Context(), pod.Spec.NodeName)
	if err != nil {
		writeError(w, err)
		return
	}
	rt, err := s.kubeletTransport()
	if err != nil {
		writeError(w, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	loc := &url.URL{Scheme: "https", Host: hostPort, Path: path, RawQuery: query.Encode()}
	via := "proxy"
	switch {
	case (req.sub == "exec" || req.sub == "attach") && wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		via = "websocket-to-spdy"
	case req.sub == "portforward" && wantsPortForwardTunnel(r):
		via = "websocket-tunnel"
	}
	s.Log.Debug("to the kubelet", "sub", req.sub, "pod", req.namespace+"/"+req.name, "node", pod.Spec.NodeName, "kubelet", hostPort, "via", via)
	switch via {
	case "websocket-to-spdy":
		s.translateToSPDY(w, r, loc, pod.Spec.NodeName, query)
		return
	case "websocket-tunnel":
		s.tunnelPortForward(w, r, loc, pod.Spec.NodeName)
		return
	}
	h := proxy.NewUpgradeAwareHandler(loc, rt, false, req.sub != "log",
		kubeletErrorResponder{log: s.Log, node: pod.Spec.NodeName, addr: hostPort})
	h.UseLocationHost = true
	h.FlushInterval = -1 // log lines reach kubectl as soon as the kubelet writes them
	out := r.Clone(r.Context())
	out.URL.RawQuery = loc.RawQuery
	// The caller's own credentials are for the API server, not the kubelet.
	out.Header.Del("Authorization")
	for k := range out.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Impersonate-") {
			out.Header.Del(k)
		}
	}
	h.ServeHTTP(w, out)
}

// kubeletAddress returns host:port of the kubelet on node name: the
// node's InternalIP (else its first address) and the port it reports in
// status.daemonEndpoints (else DefaultKubeletPort).
func (s *Server) kubeletAddress(ctx context.Context, name string) (string, error) {
	var node corev1.Node
	if _, err := s.Store.Get(ctx, s.key(lookup("", "v1", "nodes"), "", name), &node); err != nil {
		if apierrors.IsNotFound(storageErr(err, lookup("", "v1", "nodes"), name)) {
			return "", apierrors.NewServiceUnavailable(fmt.Sprintf("the pod is bound to node %q, which is not registered; check that the Skiff agent on %s is running and has joined the cluster", name, name))
		}
		return "", storageErr(err, lookup("", "v1", "nodes"), name)
	}
	host := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && a.Address != "" {
			host = a.Address
			break
		}
	}
	if host == "" && len(node.Status.Addresses) > 0 {
		host = node.Status.Addresses[0].Address
	}
	if host == "" {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %q reports no addresses in status.addresses, so its kubelet cannot be reached; check that the Skiff agent on %s is running", name, name))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultKubeletPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// kubeletErrorResponder turns a failure to reach a kubelet into a 503
// Status that names the node and address.
type kubeletErrorResponder struct {
	log        *slog.Logger
	node, addr string
}

func (e kubeletErrorResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away; nobody is left to tell
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) { // the proxy's own checks, such as "Upgrade request required"
		writeError(w, err)
		return
	}
	e.log.Warn("kubelet unreachable", "node", e.node, "kubelet", e.addr, "err", err)
	writeError(w, apierrors.NewServiceUnavailable(fmt.Sprintf(
		"cannot reach the kubelet of node %q at %s: %v; check that the Skiff agent is running on %s and that the API server can reach port %s there",
		e.node, e.addr, err, e.node, portOf(e.addr))))
}

func portOf(hostPort string) string {
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return hostPort
	}
	return p
}
