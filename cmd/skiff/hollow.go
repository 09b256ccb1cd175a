package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiffnet/skiff/control/hollow"
)

func init() {
	registerDev("hollow-nodes", "simulated nodes that heartbeat and run bound pods without containers", runHollowNodes)
}

func runHollowNodes(args []string) error {
	fs := flag.NewFlagSet("dev hollow-nodes", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster to join (default $KUBECONFIG)")
	count := fs.Int("count", 10, "number of simulated nodes")
	prefix := fs.String("prefix", "hollow-node-", "node name prefix")
	cpu := fs.String("cpu", "8", "CPU capacity per node")
	memory := fs.String("memory", "32Gi", "memory capacity per node")
	maxPods := fs.Int64("max-pods", 110, "pod capacity per node")
	heartbeat := fs.Duration("heartbeat", 10*time.Second, "Lease renewal interval")
	workers := fs.Int("workers", 8, "concurrent pod status writers")
	qps := fs.Float64("qps", 200, "client requests per second towards the API server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return fmt.Errorf("--kubeconfig is required (the admin kubeconfig 'skiff server' printed)")
	}
	cpuQ, err := resource.ParseQuantity(*cpu)
	if err != nil {
		return fmt.Errorf("--cpu %q: %w (use e.g. 8 or 500m)", *cpu, err)
	}
	memQ, err := resource.ParseQuantity(*memory)
	if err != nil {
		return fmt.Errorf("--memory %q: %w (use e.g. 32Gi)", *memory, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = float32(*qps), int(*qps*2)
	cfg.UserAgent = "skiff-hollow-nodes"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build client from %s: %w", *kubeconfig, err)
	}
	c, err := hollow.New(client, hollow.Options{
		Count: *count, Prefix: *prefix, CPU: cpuQ, Memory: memQ, MaxPods: *maxPods,
		HeartbeatInterval: *heartbeat, Workers: *workers,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "running %d hollow nodes (%s0 … %s%d); Ctrl-C stops them (they then go NotReady)\n", *count, *prefix, *prefix, *count-1)
	return c.Run(ctx)
}
