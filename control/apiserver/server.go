package apiserver

import (
	"context"
	"errors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"log/slog"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffnet/skiff/control/storage"
)

// Server serves the Kubernetes API from a storage.Store.
type Server struct {
	Store *storage.Store
	Alloc *Allocators
	mux   *http.ServeMux
	Log   *slog.Logger
	// PKI signs node certificates on join; DataDir holds the join secret.
	PKI     *PKI
	DataDir string
	// MaxWatch caps a watch without timeoutSeconds.
	MaxWatch time.Duration
	// kubelet is the transport for pods/log, exec, attach and portforward.
	kubelet kubeletClient
	// etcd holds the join secrets of servers sharing it (nil in tests).
	etcd *clientv3.Client
	// sa signs and verifies service-account tokens (satoken.go); nil
	// means no TokenRequest and no bearer tokens.
	sa *saKeys
	// live caches the objects bearer tokens refer to (authn.go).
	live liveCache
}

// Config configures a Server.
type Config struct {
	Store *storage.Store
	Alloc *Allocators
	// ExtraHandlers registers extra paths (OpenAPI) on the mux.
	ExtraHandlers func(mux *http.ServeMux) error
}

// New builds a Server. It does not listen; use Handler.
func New(cfg Config) (*Server, error) {
	s := &Server{Store: cfg.Store, Alloc: cfg.Alloc, mux: http.NewServeMux(), Log: slog.Default(), MaxWatch: 30 * time.Minute}
	s.mux.HandleFunc("/version", s.serveVersion)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		s.mux.HandleFunc(p, s.serveHealth)
	}
	s.mux.HandleFunc("/cacerts", s.serveCACerts)
	s.mux.HandleFunc("/skiff/v1/join", s.serveJoin)
	s.mux.HandleFunc("/api", s.serveAPIVersions)
	s.mux.HandleFunc("/apis", s.serveAPIGroups)
	s.mux.HandleFunc("/api/", s.serveResource)
	s.mux.HandleFunc("/apis/", s.serveResource)
	s.mux.HandleFunc("/debug/pprof/", s.serveProfiling)
	if cfg.ExtraHandlers != nil {
		if err := cfg.ExtraHandlers(s.mux); err != nil {
			return nil, err
		}
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apierrors.NewNotFound(schemaGR("", ""), strings.TrimPrefix(r.URL.Path, "/")))
	})
	return s, nil
}

// Handler returns the HTTP handler with authentication applied.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/livez", "/readyz", "/cacerts", "/skiff/v1/join":
		default:
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				break // a verified client certificate comes first
			}
			tok, ok := bearerToken(r)
			if !ok {
				writeError(w, apierrors.NewUnauthorized("Unauthorized"))
				return
			}
			ar, err := s.authenticateBearer(r, tok)
			if err != nil {
				if errors.Is(err, errBadToken) {
					s.Log.Debug("bearer token refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err)
					err = apierrors.NewUnauthorized("Unauthorized")
				}
				writeError(w, err)
				return
			}
			r = ar
		}
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.Store.CurrentRevision(ctx); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("etcd not reachable: " + err.Error() + "\n"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}
