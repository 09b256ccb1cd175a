package kubeletapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/skiffnet/skiff/control/kubelet"
)

// APIServerClientCN is the Subject CommonName of the only client
// certificate the kubelet API accepts: the API server's kubelet client.
const APIServerClientCN = "skiff-apiserver-kubelet-client"

// Default stream timeouts (the kubelet's).
const (
	DefaultIdleTimeout           = 4 * time.Hour
	DefaultStreamCreationTimeout = 30 * time.Second
)

// Kubelet is what the server needs from the node's kubelet. Errors that are
// Kubernetes Status errors keep their HTTP code.
type Kubelet interface {
	// Logs streams a container's output.
	Logs(ctx context.Context, ns, pod, container string, o kubelet.LogOptions) (io.ReadCloser, error)
	// CheckRunning reports why exec or attach cannot start, or nil.
	CheckRunning(ns, pod, container string) error
	// Exec runs cmd in a container; a non-zero exit is a
	// k8s.io/utils/exec.ExitError.
	Exec(ctx context.Context, ns, pod, container string, cmd []string, s kubelet.Streams) error
	// CheckAttach reports why attach (with stdin or not) cannot start, or nil.
	CheckAttach(ns, pod, container string, stdin bool) error
	// Attach connects to a running container's stdio.
	Attach(ctx context.Context, ns, pod, container string, s kubelet.Streams) error
	// PodNetNS reports why ports of a pod cannot be forwarded (the path is
	// not used by the server).
	PodNetNS(ns, pod string) (string, error)
	// PortForward copies stream to and from a TCP port of a pod.
	PortForward(ctx context.Context, ns, pod string, port int32, stream io.ReadWriteCloser) error
}

// Config configures a Server.
type Config struct {
	// Kubelet does the work. Required.
	Kubelet Kubelet
	// ClientCAs verify client certificates (the cluster CA). Required.
	ClientCAs *x509.CertPool
	// Cert is the serving certificate (EnsureServingCert). Required.
	Cert tls.Certificate
	// IdleTimeout closes a stream connection idle this long; default 4 h.
	IdleTimeout time.Duration
	// StreamCreationTimeout bounds the SPDY stream set-up; default 30 s.
	StreamCreationTimeout time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Server is the kubelet API.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Kubelet == nil:
		return nil, errors.New("kubeletapi: Kubelet is required")
	case cfg.ClientCAs == nil:
		return nil, errors.New("kubeletapi: ClientCAs is required: give the cluster CA (certificate-authority-data of the agent's kubeconfig)")
	case len(cfg.Cert.Certificate) == 0:
		return nil, errors.New("kubeletapi: serving certificate is required (EnsureServingCert)")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "kubelet-api"), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	s.mux.Handle("GET /containerLogs/{ns}/{pod}/{container}", s.authn(s.serveLogs))
	for _, m := range []string{"GET", "POST"} {
		s.mux.Handle(m+" /exec/{ns}/{pod}/{container}", s.authn(s.serveExec))
		s.mux.Handle(m+" /exec/{ns}/{pod}/{uid}/{container}", s.authn(s.serveExec))
		s.mux.Handle(m+" /attach/{ns}/{pod}/{container}", s.authn(s.serveAttach))
		s.mux.Handle(m+" /attach/{ns}/{pod}/{uid}/{container}", s.authn(s.serveAttach))
		s.mux.Handle(m+" /portForward/{ns}/{pod}", s.authn(s.servePortForward))
		s.mux.Handle(m+" /portForward/{ns}/{pod}/{uid}", s.authn(s.servePortForward))
	}
	s.mux.Handle("/", s.authn(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("the kubelet API has no %s %s; it serves /containerLogs, /exec, /attach and /portForward", r.Method, r.URL.Path))
	}))
	return s, nil
}

// Handler is the server's HTTP handler (authentication included).
func (s *Server) Handler() http.Handler { return s.mux }

// TLSConfig asks for (but does not require) a client certificate; the
// handlers verify it so that failures get Status replies.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // stream upgrades need HTTP/1.1
	}
}

// Serve serves HTTPS on ln until ctx ends. Every request's context ends
// when its connection closes, so exec and attach sessions stop when the
// client goes away.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute, // keep-alive between requests; streams are hijacked
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	})
	defer stop()
	err := srv.Serve(tls.NewListener(&trackingListener{Listener: ln}, srv.TLSConfig))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on addr (host:port) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubelet API: listen on %s: %w (free the port or pass another --kubelet-port)", addr, err)
	}
	s.log.Info("kubelet API serving", "addr", ln.Addr().String())
	return s.Serve(ctx, ln)
}

// authn admits only the API server's kubelet client certificate.
func (s *Server) authn(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "the kubelet API needs a client certificate signed by the cluster CA")
			return
		}
		leaf := r.TLS.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.ClientCAs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "client certificate not accepted: "+err.Error())
			return
		}
		if leaf.Subject.CommonName != APIServerClientCN {
			s.log.Warn("kubelet API request refused", "user", leaf.Subject.CommonName, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeStatus(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("user %q may not use the kubelet API; only %q (the API server) may", leaf.Subject.CommonName, APIServerClientCN))
			return
		}
		next(w, r)
	})
}

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	o, err := ParseLogOptions(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	ns, pod, ctr := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	rc, err := s.cfg.Kubelet.Logs(r.Context(), ns, pod, ctr, o)
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				s.log.Warn("read container log", "pod", ns+"/"+pod, "container", ctr, "err", err)
			}
			return
		}
	}
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, pod, ctr := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "exec needs a command: give command=... (kubectl exec POD -- CMD)")
		return
	}
	opts, err := streamOptions(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := s.cfg.Kubelet.CheckRunning(ns, pod, ctr); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("exec", "pod", ns+"/"+pod, "container", ctr, "command", cmd, "tty", opts.TTY, "stdin", opts.Stdin)
	remotecommand.ServeExec(w, r, &streamer{k: s.cfg.Kubelet, ns: ns, opts: opts}, pod, "", ctr, cmd, opts,
		s.cfg.IdleTimeout, s.cfg.StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	ns, pod, ctr := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := streamOptions(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := s.cfg.Kubelet.CheckAttach(ns, pod, ctr, opts.Stdin); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("attach", "pod", ns+"/"+pod, "container", ctr, "tty", opts.TTY, "stdin", opts.Stdin)
	remotecommand.ServeAttach(w, r, &streamer{k: s.cfg.Kubelet, ns: ns, opts: opts}, pod, "", ctr, opts,
		s.cfg.IdleTimeout, s.cfg.StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("ns"), r.PathValue("pod")
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if _, err := s.cfg.Kubelet.PodNetNS(ns, pod); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("port-forward", "pod", ns+"/"+pod, "ports", opts.Ports)
	portforward.ServePortForward(w, r, &streamer{k: s.cfg.Kubelet, ns: ns, ctx: r.Context()}, pod, "", opts,
		s.cfg.IdleTimeout, s.cfg.StreamCreationTimeout, portforward.SupportedProtocols)
}

// streamOptions reads which streams a client wants. Both the kubelet's
// own parameter names (input, output, error, tty = 1) and the pod exec
// option names (stdin, stdout, stderr, tty = 1 or true) are accepted.
func streamOptions(r *http.Request) (*remotecommand.Options, error) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	for alias, name := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
		if on(alias) || on(name) {
			q.Set(name, "1")
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	r2.Form, r2.PostForm = nil, nil
	r2.Body = http.NoBody
	return remotecommand.NewOptions(r2)
}

// streamer adapts Kubelet to cri-streaming's Executor, Attacher and
// PortForwarder, which know a pod only by name.
type streamer struct {
	k    Kubelet
	ns   string
	opts *remotecommand.Options
	ctx  context.Context // the request's, for port forwarding
}

func (a *streamer) streams(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) kubelet.Streams {
	s := kubelet.Streams{TTY: tty}
	// WebSocket connections hand out every channel; use only the ones asked for.
	if a.opts.Stdin && in != nil {
		s.Stdin = in
	}
	if a.opts.Stdout && out != nil {
		s.Stdout = out
	}
	if a.opts.Stderr && errw != nil {
		s.Stderr = errw
	}
	if resize != nil {
		ch := make(chan kubelet.TermSize)
		s.Resize = ch
		go func() {
			defer close(ch)
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					select {
					case ch <- kubelet.TermSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return s
}

func (a *streamer) ExecInContainer(ctx context.Context, pod, _ string, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return a.k.Exec(ctx, a.ns, pod, container, cmd, a.streams(ctx, in, out, errw, tty, resize))
}

func (a *streamer) AttachContainer(ctx context.Context, pod, _ string, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return a.k.Attach(ctx, a.ns, pod, container, a.streams(ctx, in, out, errw, tty, resize))
}

func (a *streamer) PortForward(ctx context.Context, pod, _ string, port int32, stream io.ReadWriteCloser) error {
	// cri-streaming passes a background context for SPDY; the request's
	// ends when the client's connection closes.
	if a.ctx != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(a.ctx, cancel)
		defer stop()
	}
	return a.k.PortForward(ctx, a.ns, pod, port, stream)
}

// ParseLogOptions reads the kubelet's containerLogs query parameters.
// Malformed numbers are Status errors (400).
func ParseLogOptions(q map[string][]string) (kubelet.LogOptions, error) {
	var o kubelet.LogOptions
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var err error
	if o.Follow, err = parseBool(get("follow"), "follow"); err != nil {
		return o, err
	}
	if o.Previous, err = parseBool(get("previous"), "previous"); err != nil {
		return o, err
	}
	if o.Timestamps, err = parseBool(get("timestamps"), "timestamps"); err != nil {
		return o, err
	}
	if o.TailLines, err = parseInt(get("tailLines"), "tailLines", 0); err != nil {
		return o, err
	}
	if o.LimitBytes, err = parseInt(get("limitBytes"), "limitBytes", 1); err != nil {
		return o, err
	}
	if o.SinceSeconds, err = parseInt(get("sinceSeconds"), "sinceSeconds", 1); err != nil {
		return o, err
	}
	if v := get("sinceTime"); v != "" {
		if o.SinceTime, err = time.Parse(time.RFC3339, v); err != nil {
			return o, badRequest(fmt.Sprintf("sinceTime=%q is not an RFC 3339 time (e.g. 2024-01-02T15:04:05Z)", v))
		}
	}
	return o, nil
}

func parseBool(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest(fmt.Sprintf("%s=%q is not a boolean (use true or false)", name, v))
	}
	return b, nil
}

func parseInt(v, name string, lo int64) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo {
		return 0, badRequest(fmt.Sprintf("%s=%q must be an integer of at least %d", name, v, lo))
	}
	return n, nil
}
