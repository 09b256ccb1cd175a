package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffnet/skiff/dns/kube"
	"github.com/skiffnet/skiff/dns/server"
)

func init() {
	register("dns", "serve cluster DNS for a Kubernetes API (standalone)", runDNS)
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runDNS(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the API to watch (empty: in-cluster config)")
	listen := fs.String("listen", "0.0.0.0:53", "UDP and TCP address to answer on")
	zone := fs.String("zone", "cluster.local", "cluster domain")
	ttl := fs.Uint("ttl", 5, "TTL in seconds of cluster answers")
	var upstreams listFlag
	fs.Var(&upstreams, "upstream", "upstream resolver host[:port] for other names (repeatable; default: nameservers of --resolv-conf)")
	resolvConf := fs.String("resolv-conf", "/etc/resolv.conf", "resolv.conf to take upstreams from when --upstream is not given")
	metricsAddr := fs.String("metrics-addr", "", "address to serve Prometheus /metrics on (empty: off)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see 'skiff dns -h'", fs.Args())
	}
	if *ttl == 0 || *ttl > 86400 {
		return fmt.Errorf("--ttl %d is out of range; use 1..86400 seconds", *ttl)
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build Kubernetes client: %w", err)
	}
	srv, err := server.New(server.Config{
		Listen:      *listen,
		Zone:        *zone,
		TTL:         uint32(*ttl),
		Upstreams:   upstreams,
		ResolvConf:  *resolvConf,
		MetricsAddr: *metricsAddr,
		Logger:      slog.Default(),
	}, kube.New(client, 10*time.Minute))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Info("dns: watching Services and EndpointSlices; answering SERVFAIL for cluster names until the first sync", "api", cfg.Host)
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig given and not running in a cluster (%v); pass --kubeconfig PATH", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w (check the path and its current-context)", kubeconfig, err)
	}
	return cfg, nil
}
