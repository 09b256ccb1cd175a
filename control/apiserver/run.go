package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"github.com/skiffnet/skiff/control/apiserver/openapi"
	"github.com/skiffnet/skiff/control/storage"
)

// Options are the `skiff server` settings.
type Options struct {
	DataDir       string
	BindAddress   string
	SecurePort    int
	AdvertiseIP   net.IP
	EtcdEndpoints []string
	EtcdTLS       storage.TLSFiles
	ServiceCIDR   string
	ClusterCIDR   string
}

// Running is a started server.
type Running struct {
	Addr       string
	URL        string
	Kubeconfig string
	PKI        *PKI
	Server     *Server
	// AdminConfig is an in-process admin client configuration.
	AdminConfig *rest.Config
	httpServer  *http.Server
	embedded    *storage.Embedded
	client      *clientv3.Client
}

// Close stops serving and the datastore.
func (r *Running) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.httpServer.Shutdown(ctx)
	r.httpServer.Close()
	if r.embedded != nil {
		r.embedded.Close()
	} else if r.client != nil {
		r.client.Close()
	}
}

// OpenAPIKinds lists the served kinds for the openapi package.
func OpenAPIKinds() []openapi.Kind {
	var out []openapi.Kind
	for _, r := range Resources {
		if r.Virtual {
			continue
		}
		out = append(out, openapi.Kind{GVK: r.GVK(), Resource: r.Name, Namespaced: r.Namespaced,
			Object: r.New(), ListObject: r.NewList(), Subresources: r.Subresources})
	}
	return out
}

// Start brings up storage, certificates, the API and the bootstrap objects.
func Start(ctx context.Context, o Options) (*Running, error) {
	run := &Running{}
	var cli *clientv3.Client
	if len(o.EtcdEndpoints) > 0 {
		c, err := storage.Connect(o.EtcdEndpoints, o.EtcdTLS)
		if err != nil {
			return nil, err
		}
		cli, run.client = c, c
	} else {
		e, err := storage.StartEmbedded(o.DataDir, "", "")
		if err != nil {
			return nil, err
		}
		cli, run.embedded = e.Client, e
	}
	fail := func(err error) (*Running, error) {
		if run.embedded != nil {
			run.embedded.Close()
		} else if cli != nil {
			cli.Close()
		}
		return nil, err
	}
	alloc, err := NewAllocators(cli, o.ServiceCIDR, o.ClusterCIDR)
	if err != nil {
		return fail(err)
	}
	bind := net.ParseIP(o.BindAddress)
	if bind == nil {
		return fail(fmt.Errorf("--bind-address %q is not an IP address", o.BindAddress))
	}
	extra := []net.IP{bind}
	if o.AdvertiseIP != nil {
		extra = append(extra, o.AdvertiseIP)
	}
	if bind.IsUnspecified() {
		extra = append(extra, hostIPs()...)
	}
	ips, names := DefaultSANs(extra, alloc.ServiceIP(1))
	pki, err := LoadOrCreateSharedPKI(ctx, cli, o.DataDir, ips, names)
	if err != nil {
		return fail(err)
	}
	run.PKI = pki
	saKeys, err := loadOrCreateSAKey(ctx, cli, o.DataDir)
	if err != nil {
		return fail(err)
	}
	store := storage.New(cli, StorageCodec)
	srv, err := New(Config{Store: store, Alloc: alloc, ExtraHandlers: func(mux *http.ServeMux) error {
		return openapi.Install(mux, OpenAPIKinds())
	}})
	if err != nil {
		return fail(fmt.Errorf("build API server: %w", err))
	}
	run.Server = srv
	srv.PKI, srv.DataDir, srv.etcd, srv.sa = pki, o.DataDir, cli, saKeys
	go srv.publishJoinSecret(ctx, cli, 5*time.Second)
	ln, err := net.Listen("tcp", net.JoinHostPort(o.BindAddress, strconv.Itoa(o.SecurePort)))
	if err != nil {
		return fail(fmt.Errorf("listen on %s:%d: %w (is another server running? change --secure-port)", o.BindAddress, o.SecurePort, err))
	}
	port := ln.Addr().(*net.TCPAddr).Port
	run.Addr = ln.Addr().String()
	host := "127.0.0.1"
	if !bind.IsUnspecified() {
		host = bind.String()
	}
	run.URL = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	run.httpServer = &http.Server{Handler: srv.Handler(), TLSConfig: pki.TLSConfig(), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug)}
	go func() {
		if err := run.httpServer.Serve(tls.NewListener(ln, run.httpServer.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("API server stopped", "err", err)
		}
	}()
	run.Kubeconfig = filepath.Join(o.DataDir, "admin.kubeconfig")
	if err := pki.WriteKubeconfig(run.Kubeconfig, run.URL); err != nil {
		run.Close()
		return nil, err
	}
	run.AdminConfig = &rest.Config{Host: run.URL, TLSClientConfig: rest.TLSClientConfig{
		CAData: pki.CAPEM, CertData: pki.AdminCert, KeyData: pki.AdminKey}, QPS: 200, Burst: 400}
	adv := o.AdvertiseIP
	if adv == nil && !bind.IsUnspecified() {
		adv = bind
	}
	if err := srv.Bootstrap(ctx, alloc.ServiceIP(1), adv, port); err != nil {
		run.Close()
		return nil, err
	}
	srv.repairInBackground(ctx)
	return run, nil
}

func hostIPs() []net.IP {
	var out []net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			out = append(out, n.IP.To4())
		}
	}
	return out
}

// Bootstrap creates the system namespaces and the `kubernetes` Service
// (and its Endpoints when the advertise address is known). Existing
// objects are kept.
func (s *Server) Bootstrap(ctx context.Context, kubeIP, advertise net.IP, port int) error {
	nsRes := lookup("", "v1", "namespaces")
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.create(ctx, nsRes, "", ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: kubeIP.String(), SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}}},
	}
	if _, err := s.create(ctx, lookup("", "v1", "services"), "default", svc, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the kubernetes service: %w", err)
	}
	if advertise == nil {
		return nil
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: advertise.String()}},
			Ports: []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}}}}
	epRes := lookup("", "v1", "endpoints")
	_, err := s.create(ctx, epRes, "default", ep, false)
	if apierrors.IsAlreadyExists(err) {
		_, err = s.update(ctx, epRes, "default", "kubernetes", "", false, func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.Endpoints).Subsets = ep.Subsets
			return cur, nil
		})
	}
	if err != nil {
		return fmt.Errorf("write the kubernetes endpoints: %w", err)
	}
	return nil
}
