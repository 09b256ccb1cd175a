package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/skiffnet/skiff/control/controllers/daemonset"
	"github.com/skiffnet/skiff/control/controllers/deployment"
	"github.com/skiffnet/skiff/control/controllers/endpoints"
	"github.com/skiffnet/skiff/control/controllers/events"
	"github.com/skiffnet/skiff/control/controllers/garbagecollector"
	"github.com/skiffnet/skiff/control/controllers/job"
	"github.com/skiffnet/skiff/control/controllers/namespace"
	"github.com/skiffnet/skiff/control/controllers/nodelifecycle"
	"github.com/skiffnet/skiff/control/controllers/replicaset"
	"github.com/skiffnet/skiff/control/controllers/rootca"
	"github.com/skiffnet/skiff/control/controllers/serviceaccount"
	"github.com/skiffnet/skiff/control/scheduler"
)

// Lease that elects the active controller manager.
const (
	LeaseNamespace = "kube-system"
	LeaseName      = "skiff-controller-manager"
)

// Options tune the manager; zero values get the defaults shown.
type Options struct {
	// Identity written into the Lease (hostname_random).
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod: leader election timing
	// (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Workers per queue-based controller (5).
	Workers int
	// DisableScheduler leaves pod placement to another scheduler.
	DisableScheduler bool
	// NodeLifecycle and Scheduler pass through to those components (their
	// Recorder and Logger are filled in when nil).
	NodeLifecycle nodelifecycle.Options
	Scheduler     scheduler.Options
	Logger        *slog.Logger
	// RootCA is the cluster CA (PEM) the rootca controller publishes as
	// ConfigMap kube-root-ca.crt in every namespace. Start fills it from
	// the client configuration's CA; when empty the controller does not run.
	RootCA []byte
}

func (o *Options) defaults() {
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = host + "_" + utilrand.String(8)
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 15 * time.Second
	}
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = 10 * time.Second
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 5
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Start builds clients from cfg and runs Run. It returns when ctx ends.
func Start(ctx context.Context, cfg *rest.Config, opts Options) error {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS < 1000 {
		// Binding, events, pod creation and status all share this limiter;
		// 100 pods/s needs several hundred requests/s, so a lower limit
		// (client-go's 5, the server's admin client's 200) is raised.
		cfg.QPS, cfg.Burst = 1000, 2000
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "skiff-controller-manager"
	}
	if len(opts.RootCA) == 0 {
		opts.RootCA = cfg.TLSClientConfig.CAData
		if len(opts.RootCA) == 0 && cfg.TLSClientConfig.CAFile != "" {
			ca, err := os.ReadFile(cfg.TLSClientConfig.CAFile)
			if err != nil {
				return fmt.Errorf("controller manager: read the cluster CA for kube-root-ca.crt: %w", err)
			}
			opts.RootCA = ca
		}
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager: build client: %w", err)
	}
	// A separate client keeps Lease renewals from queueing behind
	// controller traffic under the rate limiter.
	electCfg := rest.CopyConfig(cfg)
	electCfg.UserAgent += "-leader-election"
	electClient, err := kubernetes.NewForConfig(electCfg)
	if err != nil {
		return fmt.Errorf("controller manager: build leader election client: %w", err)
	}
	return run(ctx, client, electClient, opts)
}

// Run is Start for an existing clientset (tests use the fake one).
func Run(ctx context.Context, client kubernetes.Interface, opts Options) error {
	return run(ctx, client, client, opts)
}

func run(ctx context.Context, client, electClient kubernetes.Interface, opts Options) error {
	opts.defaults()
	log := opts.Logger.With("component", "controller-manager")
	ensureNamespace(ctx, client, LeaseNamespace, log)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName},
		Client:     electClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Identity},
	}
	for ctx.Err() == nil {
		// The callback runs on its own goroutine; claimed makes sure a term
		// that starts after Run returned never runs, and term.Wait covers a
		// term that did.
		var term sync.WaitGroup
		var claimed atomic.Bool
		var termErr error
		term.Add(1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   opts.LeaseDuration,
			RenewDeadline:   opts.RenewDeadline,
			RetryPeriod:     opts.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					if !claimed.CompareAndSwap(false, true) {
						return
					}
					defer term.Done()
					log.Info("became leader; starting controllers", "identity", opts.Identity)
					termErr = runControllers(lctx, client, opts, log)
				},
				OnStoppedLeading: func() {
					log.Info("stopped leading", "identity", opts.Identity)
				},
				OnNewLeader: func(id string) {
					if id != opts.Identity {
						log.Info("another controller manager leads", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("controller manager: leader election config: %w", err)
		}
		le.Run(ctx)
		if claimed.CompareAndSwap(false, true) {
			term.Done() // never led this round
		}
		term.Wait()
		if termErr != nil && ctx.Err() == nil {
			log.Error("controllers stopped with an error; campaigning again", "err", termErr)
		}
		if ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(opts.RetryPeriod):
			}
		}
	}
	return nil
}

func ensureNamespace(ctx context.Context, client kubernetes.Interface, name string, log *slog.Logger) {
	_, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		log.Warn("could not make sure the leader election namespace exists; election retries until it does", "namespace", name, "err", err)
	}
}

// runControllers runs one leadership term: a fresh informer factory and
// every controller on it, until ctx ends.
func runControllers(ctx context.Context, client kubernetes.Interface, opts Options, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(trimPod))
	bc := events.NewBroadcaster(client)
	defer bc.Shutdown()

	type runner struct {
		name string
		run  func(context.Context) error
	}
	var runners []runner

	// Constructors register informers and indexers, so all of them run
	// before factory.Start.
	ep, err := endpoints.New(client, factory, endpoints.Options{Logger: opts.Logger})
	if err != nil {
		return err
	}
	runners = append(runners, runner{"endpoints", func(ctx context.Context) error { return ep.Run(ctx, opts.Workers) }})

	nlOpts := opts.NodeLifecycle
	if nlOpts.Recorder == nil {
		nlOpts.Recorder = bc.Recorder("node-controller")
	}
	if nlOpts.Logger == nil {
		nlOpts.Logger = opts.Logger
	}
	nl, err := nodelifecycle.New(client, factory, nlOpts)
	if err != nil {
		return err
	}
	runners = append(runners, runner{"nodelifecycle", func(ctx context.Context) error { return nl.Run(ctx, 1) }})

	// Workload and housekeeping controllers (written alongside, same
	// New(client, factory[, recorder]) / Run(ctx, workers) shape).
	queued := []struct {
		name string
		run  func(context.Context, int)
	}{
		{"deployment", deployment.New(client, factory, bc.Recorder("deployment-controller")).Run},
		{"replicaset", replicaset.New(client, factory, bc.Recorder("replicaset-controller")).Run},
		{"daemonset", daemonset.New(client, factory, bc.Recorder("daemonset-controller")).Run},
		{"job", job.New(client, factory, bc.Recorder("job-controller")).Run},
		{"garbagecollector", garbagecollector.New(client, factory).Run},
		{"namespace", namespace.New(client, factory).Run},
		{"serviceaccount", serviceaccount.New(client, factory).Run},
	}
	if len(opts.RootCA) > 0 {
		queued = append(queued, struct {
			name string
			run  func(context.Context, int)
		}{"rootca", rootca.New(client, factory, opts.RootCA).Run})
	} else {
		log.Warn("no cluster CA given; ConfigMap kube-root-ca.crt is not published and pods cannot verify the API server")
	}
	for _, q := range queued {
		runners = append(runners, runner{q.name, func(ctx context.Context) error { q.run(ctx, opts.Workers); return nil }})
	}

	if !opts.DisableScheduler {
		sOpts := opts.Scheduler
		if sOpts.Recorder == nil {
			name := sOpts.SchedulerName
			if name == "" {
				name = scheduler.DefaultSchedulerName
			}
			sOpts.Recorder = bc.Recorder(name)
		}
		if sOpts.Logger == nil {
			sOpts.Logger = opts.Logger
		}
		s, err := scheduler.New(client, factory, sOpts)
		if err != nil {
			return err
		}
		runners = append(runners, runner{"scheduler", s.Run})
	}

	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var wg sync.WaitGroup
	errs := make(chan error, len(runners))
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", r.name, err)
				cancel() // one failed component ends the term; the loop retries
			}
		}()
	}
	log.Info("controllers running", "count", len(runners))
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
