package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffnet/skiff/control/apiserver"
	"github.com/skiffnet/skiff/dns/clusterdns"
)

// clusterDNSIP is ip, or the 10th address of serviceCIDR when ip is empty.
func clusterDNSIP(ip, serviceCIDR string) (net.IP, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil || a.To4() == nil {
			return nil, fmt.Errorf("--cluster-dns %q is not an IPv4 address", ip)
		}
		return a.To4(), nil
	}
	p, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr %q: %w", serviceCIDR, err)
	}
	a := p.Masked().Addr()
	for range 10 {
		a = a.Next()
	}
	return net.IP(a.AsSlice()), nil
}

// startClusterDNS runs the kube-dns Service and the fallback DNS server of
// this API server (dns/clusterdns) in the background.
func startClusterDNS(ctx context.Context, run *apiserver.Running, ip, serviceCIDR string, port int, advertise net.IP) error {
	dnsIP, err := clusterDNSIP(ip, serviceCIDR)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rest.CopyConfig(run.AdminConfig))
	if err != nil {
		return err
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
		return nil
	}
	go func() {
		if err := clusterdns.Run(ctx, clusterdns.Config{Client: client, ServiceIP: dnsIP, Advertise: advertise, Port: port, Logger: slog.Default().With("component", "cluster-dns")}); err != nil {
			slog.Error("cluster DNS fallback stopped", "err", err)
		}
	}()
	return nil
}
