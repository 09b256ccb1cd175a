package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"k8s.io/client-go/rest"

	"github.com/skiffnet/skiff/control/apiserver"
	"github.com/skiffnet/skiff/control/controllers/manager"
	"github.com/skiffnet/skiff/control/storage"
	"github.com/skiffnet/skiff/internal/memtarget"
)

// controllerStarters run inside `skiff server` with an in-process admin
// client configuration once the API is serving: the leader-elected
// controller manager (controllers and scheduler).
var controllerStarters = []func(ctx context.Context, cfg *rest.Config) error{
	func(ctx context.Context, cfg *rest.Config) error { return manager.Start(ctx, cfg, manager.Options{}) },
}

func init() {
	register("server", "run the Kubernetes-compatible control plane (API server on etcd)", runServer)
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "/var/lib/skiff/server", "directory for the embedded etcd, certificates and admin.kubeconfig")
	bind := fs.String("bind-address", "0.0.0.0", "address the HTTPS API listens on")
	port := fs.Int("secure-port", 6443, "HTTPS API port")
	advertise := fs.String("advertise-address", "", "address other nodes reach this server on (default: the bind address, or the first host address)")
	endpoints := fs.String("etcd-endpoints", "", "comma-separated external etcd URLs; empty runs an embedded etcd")
	caFile := fs.String("etcd-cafile", "", "CA bundle for the external etcd")
	certFile := fs.String("etcd-certfile", "", "client certificate for the external etcd")
	keyFile := fs.String("etcd-keyfile", "", "client key for the external etcd")
	serviceCIDR := fs.String("service-cidr", "10.96.0.0/12", "range for Service ClusterIPs")
	clusterCIDR := fs.String("cluster-cidr", "10.244.0.0/16", "range split into one /24 PodCIDR per node")
	clusterDNS := fs.String("cluster-dns", "", "cluster DNS Service IP (default: the 10th address of --service-cidr, 10.96.0.10)")
	dnsPort := fs.Int("dns-port", 53, "serve the fallback cluster DNS on the advertise address at this port (0: off)")
	noControllers := fs.Bool("disable-controllers", false, "serve the API only; run no controllers or scheduler in this process")
	memTarget := fs.String("memory-target", "128Mi", "keep the Go heap near this size by collecting garbage earlier; it rises with the live data (0: Go's default; GOMEMLIMIT overrides)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	memBase, err := memtarget.Parse(*memTarget)
	if err != nil {
		return fmt.Errorf("--memory-target: %w", err)
	}
	o := apiserver.Options{DataDir: *dataDir, BindAddress: *bind, SecurePort: *port,
		EtcdTLS: storage.TLSFiles{CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile}, ServiceCIDR: *serviceCIDR, ClusterCIDR: *clusterCIDR}
	if *endpoints != "" {
		o.EtcdEndpoints = strings.Split(*endpoints, ",")
	}
	if *advertise != "" {
		o.AdvertiseIP = net.ParseIP(*advertise)
		if o.AdvertiseIP == nil {
			return fmt.Errorf("--advertise-address %q is not an IP address", *advertise)
		}
	} else if ip := net.ParseIP(*bind); ip != nil && ip.IsUnspecified() {
		o.AdvertiseIP = firstHostIP()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go memtarget.Run(ctx, memBase, slog.Default())
	run, err := apiserver.Start(ctx, o)
	if err != nil {
		return err
	}
	defer run.Close()
	slog.Info("API server listening", "address", run.Addr, "kubeconfig", run.Kubeconfig)
	fmt.Printf("Skiff API server is running on %s\nAdmin kubeconfig: %s\n  export KUBECONFIG=%s\n", run.URL, run.Kubeconfig, run.Kubeconfig)
	starters := controllerStarters
	if *noControllers {
		starters = nil
	}
	for _, start := range starters {
		go func() {
			if err := start(ctx, rest.CopyConfig(run.AdminConfig)); err != nil && ctx.Err() == nil {
				slog.Error("controllers stopped", "err", err)
			}
		}()
	}
	dnsDone, err := startClusterDNS(ctx, run, *clusterDNS, *dnsPort, o.AdvertiseIP)
	if err != nil {
		return err
	}
	<-ctx.Done()
	slog.Info("shutting down")
	<-dnsDone // it withdraws its endpoint through this server (at most 5 s)
	return nil
}

func firstHostIP() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.To4()
		}
	}
	return nil
}
