package podbench

import (
	"context"
	"fmt"
	"github.com/skiffnet/skiff/bench/benchstat"
	"log/slog"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffnet/skiff/bench/benchproc"
)

// Config is one run.
type Config struct {
	Binary  string // skiff binary (required)
	Archive string // testapp image archive (required)
	Pods    int    // pods created at once (30)
	Rounds  int    // bursts, one after another (3); latencies are pooled
	Logger  *slog.Logger
}

const (
	namespace = "podbench"
	image     = "docker.io/skiff/testapp:v1"
)

// Run performs one run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Pods == 0 {
		cfg.Pods = 30
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	if _, err := os.Stat(cfg.Archive); err != nil {
		return nil, fmt.Errorf("test image %s: %w (run `make images` first)", cfg.Archive, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "skiff-podbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log.Info("starting skiff server")
	srv, err := benchproc.StartServer(ctx, cfg.Binary, dir, "--cluster-cidr", "10.252.0.0/16", "--dns-port", "0")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	node := fmt.Sprintf("podbench-%d", os.Getpid())
	log.Info("starting skiff agent", "node", node)
	agent, err := benchproc.StartAgent(ctx, cfg.Binary, srv, node, cfg.Archive)
	if err != nil {
		return nil, err
	}
	defer agent.Stop()
	client, err := srv.Client()
	if err != nil {
		return nil, err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	res := &Result{Schema: "skiff-podbench/v2", Started: time.Now().UTC(), Pods: cfg.Pods}

	log.Info("warming up with one pod")
	if _, err := startPods(ctx, client, []string{"warmup"}, log); err != nil {
		return nil, fmt.Errorf("warm-up pod: %w", err)
	}
	if err := deleteAll(ctx, client); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second)
	if res.AgentRSSIdle, _, err = benchproc.RSS(agent.PID()); err != nil {
		return nil, err
	}

	// Several bursts, pooled: on a shared machine one burst's p50 moves
	// by a fifth with the neighbours' load from one minute to the next.
	all := &latencies{}
	var cpu cpuUse
	// Found once: a lookup of containerd's pid scans /proc, which must not
	// count in a burst's CPU.
	srvPID, agentPID, ctrdPID := srv.PID(), agent.PID(), agent.ContainerdPID()
	for round := 1; round <= cfg.Rounds; round++ {
		if round > 1 {
			if err := deleteAll(ctx, client); err != nil {
				return nil, err
			}
			// The kernel frees deleted pods' network namespaces, and
			// containerd their snapshots, after the API has forgotten the
			// pods: start the next burst once that work is done.
			benchproc.WaitIdle(ctx, 20*time.Second)
		}
		names := make([]string, cfg.Pods)
		for i := range names {
			names[i] = fmt.Sprintf("pod-%d-%02d", round, i)
		}
		log.Info("creating pods at once", "count", cfg.Pods, "round", round, "of", cfg.Rounds)
		cpu0, err := snapshotCPU(srvPID, agentPID, ctrdPID)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		lat, err := startPods(ctx, client, names, log)
		if err != nil {
			return nil, err
		}
		wall := time.Since(t0)
		cpu1, err := snapshotCPU(srvPID, agentPID, ctrdPID)
		if err != nil {
			return nil, err
		}
		used := cpu1.minus(cpu0)
		cpu = cpu.plus(used)
		r := Round{Ready: benchstat.Summarize(lat.ready), BurstMs: wall.Milliseconds(), CPUPerPodMs: used.perPod(cfg.Pods)}
		log.Info("round done", "round", round, "ready_p50_ms", r.Ready.P50ms, "burst_ms", r.BurstMs, "cpu_per_pod_ms", r.CPUPerPodMs.Machine)
		res.Rounds = append(res.Rounds, r)
		all.bound = append(all.bound, lat.bound...)
		all.running = append(all.running, lat.running...)
		all.ready = append(all.ready, lat.ready...)
	}
	res.Bound = benchstat.Summarize(all.bound)
	res.Running = benchstat.Summarize(all.running)
	res.Ready = benchstat.Summarize(all.ready)
	res.CPUPerPodMs = cpu.perPod(cfg.Pods * cfg.Rounds)
	time.Sleep(2 * time.Second)
	if res.AgentRSS, res.AgentRSSPeak, err = benchproc.RSS(agent.PID()); err != nil {
		return nil, err
	}
	res.AgentRSSAnon, res.AgentRSSFile, _ = benchproc.RSSParts(agent.PID())
	if pid := agent.ContainerdPID(); pid != 0 {
		res.ContainerdRSS, _, _ = benchproc.RSS(pid)
	}
	log.Info("deleting the pods")
	if err := deleteAll(ctx, client); err != nil {
		log.Warn("deleting pods", "err", err)
	}
	// Pods deleted with grace 0 leave the API at once; let the agent tear
	// them down before it is stopped.
	benchproc.WaitIdle(ctx, 20*time.Second)
	res.Finished = time.Now().UTC()
	return res, nil
}

type latencies struct{ bound, running, ready []time.Duration }

func pod(name string) *v1.Pod {
	zero := int64(0)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": "podbench"}},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers:                    []v1.Container{{Name: "app", Image: image, ImagePullPolicy: v1.PullIfNotPresent}},
		},
	}
}

// startPods creates the pods concurrently and returns, per pod, the time
// from the start of its create call to the first watch event showing it
// Running and Ready.
func startPods(ctx context.Context, c kubernetes.Interface, names []string, log *slog.Logger) (*latencies, error) {
	w, err := c.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	errc := make(chan error, len(names))
	for _, n := range names {
		go func() {
			t0 := time.Now()
			mu.Lock()
			created[n] = t0
			mu.Unlock()
			_, err := c.CoreV1().Pods(namespace).Create(ctx, pod(n), metav1.CreateOptions{})
			errc <- err
		}()
	}
	for range names {
		if err := <-errc; err != nil {
			return nil, fmt.Errorf("create pod: %w", err)
		}
	}
	lat := &latencies{}
	bound, running, ready := map[string]bool{}, map[string]bool{}, map[string]bool{}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for len(ready) < len(names) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("pod watch closed with %d of %d pods ready", len(ready), len(names))
			}
			p, isPod := ev.Object.(*v1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			now := time.Now()
			mu.Lock()
			t0, known := created[p.Name]
			mu.Unlock()
			if !known {
				continue
			}
			if p.Spec.NodeName != "" && !bound[p.Name] {
				bound[p.Name] = true
				lat.bound = append(lat.bound, now.Sub(t0))
			}
			if p.Status.Phase == v1.PodRunning && !running[p.Name] {
				running[p.Name] = true
				lat.running = append(lat.running, now.Sub(t0))
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == v1.PodReady && cond.Status == v1.ConditionTrue && !ready[p.Name] {
					ready[p.Name] = true
					lat.ready = append(lat.ready, now.Sub(t0))
				}
			}
		case <-tick.C:
			log.Info("pods starting", "running", len(running), "ready", len(ready), "of", len(names))
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d pods ready before the deadline: %w", len(ready), len(names), ctx.Err())
		}
	}
	return lat, nil
}

func deleteAll(ctx context.Context, c kubernetes.Interface) error {
	zero := int64(0)
	if err := c.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return err
	}
	for i := 0; i < 120; i++ {
		l, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 0 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("pods still present 60s after deletion")
}
