package apiserver

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/client-go/tools/portforward"
)

// Port forwarding over WebSocket (kubectl 1.31 and later try it first)
// tunnels SPDY frames inside binary WebSocket messages, with the
// subprotocol "SPDY/3.1+portforward.k8s.io". Kubelets only speak the
// plain SPDY upgrade, so the API server opens that to the kubelet and
// copies bytes between the two.
const (
	portForwardProtocol       = "portforward.k8s.io"
	portForwardTunnelProtocol = "SPDY/3.1+" + portForwardProtocol
)

func wantsPortForwardTunnel(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == portForwardTunnelProtocol {
				return true
			}
		}
	}
	return false
}

// tunnelPortForward upgrades to the kubelet first, so that a kubelet that
// is down or refuses gives the client an ordinary Status error (and
// kubectl then retries with SPDY, which reports it), and only then
// accepts the client's WebSocket.
func (s *Server) tunnelPortForward(w http.ResponseWriter, r *http.Request, loc *url.URL, node string) {
	up := &url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, up.String(), nil)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	req.Header.Set("X-Stream-Protocol-Version", portForwardProtocol)
	backend, err := proxy.DialURL(r.Context(), up, s.kubelet.rt)
	if err != nil {
		kubeletErrorResponder{log: s.Log, node: node, addr: loc.Host}.Error(w, r, err)
		return
	}
	defer backend.Close()
	backend.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(backend)
	var resp *http.Response
	if err = req.Write(backend); err == nil {
		resp, err = http.ReadResponse(br, req)
	}
	if err != nil {
		kubeletErrorResponder{log: s.Log, node: node, addr: loc.Host}.Error(w, r, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode < 400 {
			kubeletErrorResponder{log: s.Log, node: node, addr: loc.Host}.Error(w, r, fmt.Errorf("the kubelet answered the port-forward upgrade with %s", resp.Status))
			return
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			body = kubeletErrorStatus(resp.StatusCode, http.MethodPost, body)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	backend.SetDeadline(time.Time{})
	upgrader := gwebsocket.Upgrader{Subprotocols: []string{portForwardTunnelProtocol}, HandshakeTimeout: 10 * time.Second,
		CheckOrigin: func(*http.Request) bool { return true }} // authenticated by client certificate, not cookies
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.Log.Debug("port-forward WebSocket upgrade failed", "err", err)
		return // the upgrader answered the client
	}
	client := portforward.NewTunnelingConnection("port-forward "+node, ws)
	defer client.Close()
	s.Log.Debug("port-forward tunnel open", "node", node, "kubelet", loc.Host)
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(backend, client)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(client, br)
		done <- struct{}{}
	}()
	<-done // either side ending ends the session; the defers close both
	s.Log.Debug("port-forward tunnel closed", "node", node, "kubelet", loc.Host)
}
