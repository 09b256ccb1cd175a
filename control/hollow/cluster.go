package hollow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Options describe the simulated nodes. Zero values get the defaults shown.
type Options struct {
	Count            int               // number of nodes (required, ≥ 1)
	Prefix           string            // node name prefix ("hollow-node-")
	CPU              resource.Quantity // per node ("8")
	Memory           resource.Quantity // per node ("32Gi")
	EphemeralStorage resource.Quantity // per node ("100Gi")
	MaxPods          int64             // per node (110)
	// HeartbeatInterval between Lease renewals (10s).
	HeartbeatInterval time.Duration
	// StatusInterval between unconditional node status updates (1m).
	StatusInterval time.Duration
	// LeaseDuration written into the Lease (40s).
	LeaseDuration time.Duration
	// Workers updating pod status (4).
	Workers        int
	KubeletVersion string // ("v1.33.0-skiff-hollow")
	Clock          clock.WithTicker
	Logger         *slog.Logger
}

func (o *Options) defaults() error {
	if o.Count < 1 {
		return fmt.Errorf("hollow nodes: count must be at least 1 (got %d)", o.Count)
	}
	if o.Prefix == "" {
		o.Prefix = "hollow-node-"
	}
	if o.CPU.IsZero() {
		o.CPU = resource.MustParse("8")
	}
	if o.Memory.IsZero() {
		o.Memory = resource.MustParse("32Gi")
	}
	if o.EphemeralStorage.IsZero() {
		o.EphemeralStorage = resource.MustParse("100Gi")
	}
	if o.MaxPods <= 0 {
		o.MaxPods = 110
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 10 * time.Second
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = time.Minute
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 40 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.KubeletVersion == "" {
		o.KubeletVersion = "v1.33.0-skiff-hollow"
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func resourceInt(v int64) *resource.Quantity { return resource.NewQuantity(v, resource.DecimalSI) }

func typesUID(s string) types.UID { return types.UID(s) }

// Cluster is a set of hollow nodes sharing one pod informer.
type Cluster struct {
	client     kubernetes.Interface
	opts       Options
	clock      clock.WithTicker
	log        *slog.Logger
	bootID     string
	nodes      map[string]*node
	order      []*node
	factory    informers.SharedInformerFactory
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	queue      workqueue.TypedRateLimitingInterface[string]

	mu     sync.Mutex
	podIPs map[string]*node // pod key → node whose pool holds its IP
}

// New prepares count hollow nodes; Run registers and drives them.
func New(client kubernetes.Interface, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	c := &Cluster{
		client: client,
		opts:   opts,
		clock:  opts.Clock,
		log:    opts.Logger.With("component", "hollow-nodes"),
		bootID: utilrand.String(16),
		nodes:  map[string]*node{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "hollow-pods"}),
		podIPs: map[string]*node{},
	}
	for i := range opts.Count {
		n := &node{index: i, name: fmt.Sprintf("%s%d", opts.Prefix, i), ip: nodeIP(i)}
		c.nodes[n.name] = n
		c.order = append(c.order, n)
	}
	c.factory = informers.NewSharedInformerFactory(client, 0)
	pods := c.factory.Core().V1().Pods()
	c.podLister = pods.Lister()
	c.nodeLister = c.factory.Core().V1().Nodes().Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: c.ours,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, o any) { enqueue(o) },
			DeleteFunc: enqueue,
		},
	}); err != nil {
		return nil, err
	}
	c.factory.Core().V1().Nodes().Informer()
	return c, nil
}

// NodeNames lists the simulated nodes.
func (c *Cluster) NodeNames() []string {
	out := make([]string, len(c.order))
	for i, n := range c.order {
		out[i] = n.name
	}
	return out
}

// Run registers every node, then heartbeats and serves pods until ctx ends.
func (c *Cluster) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	start := c.clock.Now()
	for i, n := range c.order {
		if err := c.register(ctx, n); err != nil {
			return err
		}
		if err := c.renewLease(ctx, n); err != nil {
			return err
		}
		if (i+1)%100 == 0 {
			c.log.Info("registering hollow nodes", "done", i+1, "of", len(c.order))
		}
	}
	c.log.Info("hollow nodes registered", "count", len(c.order), "took", c.clock.Since(start).Round(time.Millisecond))
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.factory.Core().V1().Pods().Informer().HasSynced, c.factory.Core().V1().Nodes().Informer().HasSynced) {
		return fmt.Errorf("hollow nodes: pod/node caches did not sync; check the API server")
	}
	c.adoptExistingIPs()
	var wg sync.WaitGroup
	for _, n := range c.order {
		wg.Add(1)
		go func() { defer wg.Done(); c.heartbeat(ctx, n) }()
	}
	for range c.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}
