package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/skiffnet/skiff/dns/kube"
	"github.com/skiffnet/skiff/dns/server"
)

// Namespace and Name of the cluster DNS Service, as Kubernetes names it.
const (
	Namespace = "kube-system"
	Name      = "kube-dns"
)

// Config configures Run.
type Config struct {
	Client    kubernetes.Interface
	ServiceIP net.IP // cluster DNS IP, e.g. 10.96.0.10 (required)
	Advertise net.IP // address published in the Endpoints (required to serve)
	Port      int    // DNS port on Advertise; default 53
	Zone      string // cluster domain; default cluster.local
	Upstreams []string
	Logger    *slog.Logger
}

// EnsureService creates kube-system/kube-dns with ClusterIP ip unless a
// Service of that name exists. A kube-dns Service with another IP is left
// alone and reported, since pods are configured with ip.
func EnsureService(ctx context.Context, c kubernetes.Interface, ip net.IP) error {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: map[string]string{
			"k8s-app": "kube-dns", "kubernetes.io/name": "Skiff-DNS", "kubernetes.io/cluster-service": "true"}},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: ip.String(),
			Ports: []v1.ServicePort{
				{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, Protocol: v1.ProtocolTCP},
			},
		},
	}
	cur, err := c.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err = c.CoreV1().Services(Namespace).Get(ctx, Name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("ensure Service %s/%s: %w", Namespace, Name, err)
	}
	if cur.Spec.ClusterIP != ip.String() {
		return fmt.Errorf("Service %s/%s has ClusterIP %s but pods use %s: delete it (kubectl -n %s delete svc %s) and restart the server, or pass --cluster-dns %s",
			Namespace, Name, cur.Spec.ClusterIP, ip, Namespace, Name, cur.Spec.ClusterIP)
	}
	return nil
}

// setAddress adds (add=true) or removes ip:port in the kube-dns Endpoints.
func setAddress(ctx context.Context, c kubernetes.Interface, ip net.IP, port int, add bool) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		ep, err := c.CoreV1().Endpoints(Namespace).Get(ctx, Name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if create {
			if !add {
				return nil
			}
			ep = &v1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: map[string]string{"k8s-app": "kube-dns"}}}
		}
		want := []v1.EndpointPort{{Name: "dns", Port: int32(port), Protocol: v1.ProtocolUDP}, {Name: "dns-tcp", Port: int32(port), Protocol: v1.ProtocolTCP}}
		var addrs []v1.EndpointAddress
		for _, s := range ep.Subsets {
			if !slices.Equal(s.Ports, want) {
				continue
			}
			for _, a := range s.Addresses {
				if a.IP != ip.String() {
					addrs = append(addrs, a)
				}
			}
		}
		if add {
			addrs = append(addrs, v1.EndpointAddress{IP: ip.String()})
		}
		ep.Subsets = nil
		if len(addrs) > 0 {
			ep.Subsets = []v1.EndpointSubset{{Addresses: addrs, Ports: want}}
		}
		if create {
			_, err = c.CoreV1().Endpoints(Namespace).Create(ctx, ep, metav1.CreateOptions{})
		} else {
			_, err = c.CoreV1().Endpoints(Namespace).Update(ctx, ep, metav1.UpdateOptions{})
		}
		return err
	})
}

// Run ensures the Service, serves DNS on Advertise:Port and publishes that
// address until ctx ends. A port that cannot be bound is logged and leaves
// the Service without this server's endpoint; it is not fatal to the API
// server.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Port == 0 {
		cfg.Port = 53
	}
	if cfg.ServiceIP == nil || cfg.Advertise == nil {
		return errors.New("clusterdns: ServiceIP and Advertise are required")
	}
	for {
		err := EnsureService(ctx, cfg.Client, cfg.ServiceIP)
		if err == nil {
			break
		}
		log.Warn("cluster DNS Service not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	listen := net.JoinHostPort(cfg.Advertise.String(), strconv.Itoa(cfg.Port))
	srv, err := server.New(server.Config{Listen: listen, Zone: cfg.Zone, Upstreams: cfg.Upstreams, Logger: log}, kube.New(cfg.Client, 10*time.Minute))
	if err != nil {
		log.Warn("cluster DNS fallback not served: pods resolve only through their node's agent", "listen", listen, "err", err)
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	for {
		err := setAddress(ctx, cfg.Client, cfg.Advertise, cfg.Port, true)
		if err == nil {
			break
		}
		log.Warn("publishing the cluster DNS endpoint failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return <-errc
		case <-time.After(2 * time.Second):
		}
	}
	log.Info("cluster DNS fallback serving", "listen", srv.Addr(), "service", cfg.ServiceIP.String())
	err = <-errc
	// Withdraw this address so the Service does not send queries to a
	// server that is gone; a fresh context because ctx has ended.
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if werr := setAddress(wctx, cfg.Client, cfg.Advertise, cfg.Port, false); werr != nil {
		log.Warn("could not withdraw the cluster DNS endpoint", "err", werr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
