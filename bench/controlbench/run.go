package controlbench

import (
	"context"
	"fmt"
	"github.com/skiffnet/skiff/bench/benchstat"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffnet/skiff/bench/benchproc"
	"github.com/skiffnet/skiff/control/hollow"
)

// Config is the shape of one run.
type Config struct {
	Binary      string // skiff binary that runs the server (required)
	Nodes       int    // hollow nodes (100)
	Deployments int    // Deployments created (1000)
	Replicas    int32  // replicas each (10)
	Workers     int    // concurrent creators (8)
	Samples     int    // list and watch-delivery samples (200)
	ProfileDir  string // if set, the server's heap profile and smaps_rollup are saved here at the end
	Timeout     time.Duration
	Logger      *slog.Logger
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 100
	}
	if c.Deployments == 0 {
		c.Deployments = 1000
	}
	if c.Replicas == 0 {
		c.Replicas = 10
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Samples == 0 {
		c.Samples = 200
	}
	if c.Timeout == 0 {
		c.Timeout = 15 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

const benchNS = "skiff-bench"

// Run performs one benchmark run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	log := cfg.Logger
	dir, err := os.MkdirTemp("", "skiff-benchctl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log.Info("starting skiff server", "binary", cfg.Binary, "dir", dir)
	srv, err := benchproc.StartServer(ctx, cfg.Binary, dir)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	client, err := srv.Client()
	if err != nil {
		return nil, err
	}
	res := &Result{Schema: "skiff-controlbench/v1", Started: time.Now().UTC(), Config: cfg.public()}
	if res.IdleRSS, _, err = srv.RSS(); err != nil {
		return nil, err
	}

	log.Info("registering hollow nodes", "count", cfg.Nodes)
	hc, err := hollow.New(client, hollow.Options{Count: cfg.Nodes, Workers: 8, Logger: log.With("component", "hollow")})
	if err != nil {
		return nil, err
	}
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	go func() { _ = hc.Run(hctx) }()
	if err := waitReadyNodes(ctx, client, cfg.Nodes, log); err != nil {
		return nil, err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNS}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", benchNS, err)
	}

	if res.WatchDelivery, err = measureWatch(ctx, client, cfg.Samples); err != nil {
		return nil, fmt.Errorf("watch delivery: %w", err)
	}

	total := cfg.Deployments * int(cfg.Replicas)
	w, err := client.CoreV1().Pods(benchNS).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	start := time.Now()
	created := make(chan []time.Duration, 1)
	go func() { created <- createDeployments(ctx, client, cfg, log) }()
	last, err := waitBound(ctx, w, total, start, log)
	if err != nil {
		return nil, err
	}
	createLat := <-created
	if len(createLat) != cfg.Deployments {
		return nil, fmt.Errorf("only %d of %d Deployments were created; see the log above", len(createLat), cfg.Deployments)
	}
	res.Pods = total
	res.BindSeconds = last.Sub(start).Seconds()
	res.PodsPerSecond = float64(total) / res.BindSeconds
	res.Create = benchstat.Summarize(createLat)
	if res.List, err = measureList(ctx, client, cfg.Samples/4+1); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	time.Sleep(3 * time.Second) // let controllers settle before reading memory
	if res.RSS, res.PeakRSS, err = srv.RSS(); err != nil {
		return nil, err
	}
	res.RSSAnon, res.RSSFile, _ = benchproc.RSSParts(srv.PID())
	if cfg.ProfileDir != "" {
		if err := saveProfiles(ctx, client, cfg.ProfileDir, srv.PID()); err != nil {
			log.Warn("could not save the server's profiles", "err", err)
		}
	}
	res.Finished = time.Now().UTC()
	return res, nil
}

func waitReadyNodes(ctx context.Context, c kubernetes.Interface, n int, log *slog.Logger) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for _, nd := range nodes.Items {
				for _, cond := range nd.Status.Conditions {
					if cond.Type == v1.NodeReady && cond.Status == v1.ConditionTrue {
						ready++
					}
				}
			}
			if ready >= n {
				log.Info("hollow nodes ready", "count", ready)
				return nil
			}
			log.Info("waiting for hollow nodes", "ready", ready, "want", n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hollow nodes not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func deployment(i int, replicas int32) *appsv1.Deployment {
	name := fmt.Sprintf("bench-%04d", i)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: v1.PodSpec{Containers: []v1.Container{{
					Name: "app", Image: "docker.io/skiff/testapp:v1",
				}}},
			},
		},
	}
}

// createDeployments creates every Deployment with cfg.Workers in parallel and
// returns each create call's latency.
func createDeployments(ctx context.Context, c kubernetes.Interface, cfg Config, log *slog.Logger) []time.Duration {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Deployments || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				_, err := c.AppsV1().Deployments(benchNS).Create(ctx, deployment(i, cfg.Replicas), metav1.CreateOptions{})
				d := time.Since(t0)
				if err != nil {
					log.Error("create Deployment failed", "index", i, "err", err)
					continue
				}
				mu.Lock()
				lat = append(lat, d)
				if len(lat)%100 == 0 {
					log.Info("creating Deployments", "created", len(lat), "of", cfg.Deployments)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat
}

// waitBound counts pods that got a node and returns when the last of total
// was bound.
func waitBound(ctx context.Context, w watch.Interface, total int, start time.Time, log *slog.Logger) (time.Time, error) {
	bound := map[string]bool{}
	var last time.Time
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for len(bound) < total {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last, fmt.Errorf("pod watch closed after %d of %d pods were bound", len(bound), total)
			}
			p, isPod := ev.Object.(*v1.Pod)
			if !isPod || p.Spec.NodeName == "" || bound[p.Name] {
				continue
			}
			bound[p.Name] = true
			last = time.Now()
		case <-tick.C:
			el := time.Since(start).Seconds()
			log.Info("pods bound", "bound", len(bound), "of", total, "per_second", fmt.Sprintf("%.0f", float64(len(bound))/el))
		case <-ctx.Done():
			return last, fmt.Errorf("%d of %d pods bound before the deadline: %w", len(bound), total, ctx.Err())
		}
	}
	return last, nil
}

// measureWatch creates n ConfigMaps one by one and times each from the start
// of its create call to its ADDED event on an open watch.
func measureWatch(ctx context.Context, c kubernetes.Interface, n int) (Summary, error) {
	w, err := c.CoreV1().ConfigMaps(benchNS).Watch(ctx, metav1.ListOptions{LabelSelector: "skiff.io/bench=watch"})
	if err != nil {
		return Summary{}, err
	}
	defer w.Stop()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		name := fmt.Sprintf("watch-%04d", i)
		t0 := time.Now()
		cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"skiff.io/bench": "watch"}}}
		if _, err := c.CoreV1().ConfigMaps(benchNS).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return Summary{}, err
		}
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					return Summary{}, fmt.Errorf("watch closed")
				}
				if o, isCM := ev.Object.(*v1.ConfigMap); isCM && ev.Type == watch.Added && o.Name == name {
					lat = append(lat, time.Since(t0))
					goto next
				}
			case <-time.After(10 * time.Second):
				return Summary{}, fmt.Errorf("no watch event for %s within 10s", name)
			}
		}
	next:
	}
	return benchstat.Summarize(lat), nil
}

// measureList times n lists of one 500-pod page.
func measureList(ctx context.Context, c kubernetes.Interface, n int) (Summary, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		l, err := c.CoreV1().Pods(benchNS).List(ctx, metav1.ListOptions{Limit: 500})
		if err != nil {
			return Summary{}, err
		}
		if len(l.Items) == 0 {
			return Summary{}, fmt.Errorf("list returned no pods")
		}
		lat = append(lat, time.Since(t0))
	}
	return benchstat.Summarize(lat), nil
}
