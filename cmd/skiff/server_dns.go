package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffnet/skiff/control/apiserver"
	"github.com/skiffnet/skiff/dns/clusterdns"
)

// clusterDNSIP is ip, or the address the allocator keeps for cluster DNS
// (the 10th of the service range) when ip is empty.
func clusterDNSIP(ip string, alloc *apiserver.Allocators) (net.IP, error) {
	if ip == "" {
		return alloc.ServiceIP(10), nil
	}
	a := net.ParseIP(ip)
	if a == nil || a.To4() == nil {
		return nil, fmt.Errorf("--cluster-dns %q is not an IPv4 address", ip)
	}
	return a.To4(), nil
}

// startClusterDNS runs the kube-dns Service and the fallback DNS server of
// this API server (dns/clusterdns) in the background. The channel closes
// once it has stopped after ctx ended, having withdrawn its endpoint: the
// API server must still be serving until then.
func startClusterDNS(ctx context.Context, run *apiserver.Running, ip string, port int, advertise net.IP) (<-chan struct{}, error) {
	done := make(chan struct{})
	dnsIP, err := clusterDNSIP(ip, run.Server.Alloc)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rest.CopyConfig(run.AdminConfig))
	if err != nil {
		return nil, err
	}
	if port == 0 || advertise == nil {
		// Still reserve the IP under the name pods and tools expect.
		go func() {
			if err := clusterdns.EnsureService(ctx, client, dnsIP); err != nil && ctx.Err() == nil {
				slog.Warn("cluster DNS Service", "err", err)
			}
		}()
		if port != 0 {
			slog.Info("no advertise address: the fallback cluster DNS is not served (give --advertise-address to serve it)")
		}
		close(done)
		return done, nil
	}
	go func() {
		defer close(done)
		if err := clusterdns.Run(ctx, clusterdns.Config{Client: client, ServiceIP: dnsIP, Advertise: advertise, Port: port, Logger: slog.Default().With("component", "cluster-dns")}); err != nil {
			slog.Error("cluster DNS fallback stopped", "err", err)
		}
	}()
	return done, nil
}
