package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Well-known names.
const (
	LeaseNamespace   = "kube-node-lease"
	TaintUnreachable = "node.kubernetes.io/unreachable"
	TaintNotReady    = "node.kubernetes.io/not-ready"

	reasonUnknown      = "NodeStatusUnknown"
	reasonNeverUpdated = "NodeStatusNeverUpdated"
	reasonResumed      = "NodeHeartbeatResumed"
	podNodeIndex       = "skiff-nodelifecycle-nodename"
)

// Options tune the controller; zero values get the defaults shown.
type Options struct {
	// GracePeriod without heartbeat before Ready becomes Unknown (40s).
	GracePeriod time.Duration
	// MonitorPeriod between checks (5s).
	MonitorPeriod time.Duration
	// DefaultTolerationSeconds for pods without not-ready/unreachable
	// NoExecute tolerations (300).
	DefaultTolerationSeconds int64
	// Clock defaults to the real clock; tests pass a fake one.
	Clock clock.WithTicker
	// Recorder for events; nil means an own broadcaster on the client.
	Recorder record.EventRecorder
	Logger   *slog.Logger
}

type health struct {
	probe         time.Time // local time of the last observed heartbeat
	heartbeat     metav1.Time
	leaseRenew    metav1.MicroTime
	markedUnknown time.Time // when this controller set Ready=Unknown
}

// Controller is the node lifecycle controller.
type Controller struct {
	client      kubernetes.Interface
	nodes       corelisters.NodeLister
	leases      coordlisters.LeaseLister
	pods        cache.Indexer
	synced      []cache.InformerSynced
	opts        Options
	clock       clock.WithTicker
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	log         *slog.Logger

	mu        sync.Mutex
	health    map[string]*health
	taintSeen map[string]time.Time // node/taintKey → first seen, when timeAdded is missing
	evicted   map[types.UID]time.Time
}

// New registers on factory's node, lease and pod informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) (*Controller, error) {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = 40 * time.Second
	}
	if opts.MonitorPeriod <= 0 {
		opts.MonitorPeriod = 5 * time.Second
	}
	if opts.DefaultTolerationSeconds <= 0 {
		opts.DefaultTolerationSeconds = 300
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Controller{
		client:    client,
		opts:      opts,
		clock:     opts.Clock,
		log:       opts.Logger.With("controller", "nodelifecycle"),
		health:    map[string]*health{},
		taintSeen: map[string]time.Time{},
		evicted:   map[types.UID]time.Time{},
		recorder:  opts.Recorder,
	}
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "node-controller"})
	}
	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*v1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("nodelifecycle: pod index (create the controller before starting the informer factory): %w", err)
	}
	c.nodes = nodeInf.Lister()
	c.leases = leaseInf.Lister()
	c.pods = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced}
	return c, nil
}

// Run checks every node each MonitorPeriod until ctx ends. workers is
// accepted for symmetry with other controllers; checks run on one goroutine.
func (c *Controller) Run(ctx context.Context, _ int) error {
	if c.broadcaster != nil {
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("nodelifecycle: informer caches did not sync; check that the API server is reachable")
	}
	c.log.Info("node lifecycle controller started", "grace", c.opts.GracePeriod, "monitorPeriod", c.opts.MonitorPeriod)
	t := c.clock.NewTicker(c.opts.MonitorPeriod)
	defer t.Stop()
	for {
		c.monitor(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// monitor runs one pass over all nodes.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Warn("listing nodes from cache failed", "err", err)
		return
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		if err := c.checkNode(ctx, n); err != nil && ctx.Err() == nil {
			c.log.Warn("node check failed; will retry next period", "node", n.Name, "err", err)
		}
	}
	c.mu.Lock()
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
		}
	}
	now := c.clock.Now()
	for uid, at := range c.evicted {
		if now.Sub(at) > time.Minute {
			delete(c.evicted, uid)
		}
	}
	c.mu.Unlock()
}

func condition(n *v1.Node, t v1.NodeConditionType) *v1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// observe updates the heartbeat record and reports whether a heartbeat
// arrived after this controller marked the node Unknown.
func (c *Controller) observe(n *v1.Node, lease *coordinationv1.Lease) (h *health, resumed bool) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	h = c.health[n.Name]
	if h == nil {
		h = &health{probe: now}
		c.health[n.Name] = h
	}
	if ready := condition(n, v1.NodeReady); ready != nil && !ready.LastHeartbeatTime.Equal(&h.heartbeat) {
		h.heartbeat = ready.LastHeartbeatTime
		h.probe = now
	}
	leaseBeat := false
	if lease != nil && lease.Spec.RenewTime != nil && !lease.Spec.RenewTime.Equal(&h.leaseRenew) {
		first := h.leaseRenew.IsZero()
		h.leaseRenew = *lease.Spec.RenewTime
		h.probe = now
		leaseBeat = !first
	}
	if leaseBeat && !h.markedUnknown.IsZero() {
		resumed = true
		h.markedUnknown = time.Time{}
	}
	return h, resumed
}

func (c *Controller) checkNode(ctx context.Context, n *v1.Node) error {
	lease, err := c.leases.Leases(LeaseNamespace).Get(n.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	h, resumed := c.observe(n, lease)
	now := c.clock.Now()
	ready := condition(n, v1.NodeReady)
	switch {
	case now.Sub(h.probe) > c.opts.GracePeriod && (ready == nil || ready.Status != v1.ConditionUnknown):
		updated, err := c.markUnknown(ctx, n)
		if err != nil {
			return err
		}
		c.mu.Lock()
		h.markedUnknown = now
		c.mu.Unlock()
		n = updated
		c.recorder.Eventf(n, v1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady (no heartbeat for %s)", n.Name, c.opts.GracePeriod)
		c.markPodsNotReady(ctx, n.Name)
	case resumed && ready != nil && ready.Status == v1.ConditionUnknown && (ready.Reason == reasonUnknown || ready.Reason == reasonNeverUpdated):
		updated, err := c.markReady(ctx, n)
		if err != nil {
			return err
		}
		n = updated
		c.recorder.Eventf(n, v1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady (heartbeats resumed)", n.Name)
	}
	n, err = c.reconcileTaints(ctx, n)
	if err != nil {
		return err
	}
	c.evictPods(ctx, n)
	return nil
}

// markUnknown sets Ready and the pressure conditions to Unknown.
func (c *Controller) markUnknown(ctx context.Context, n *v1.Node) (*v1.Node, error) {
	now := metav1.NewTime(c.clock.Now())
	n = n.DeepCopy()
	if condition(n, v1.NodeReady) == nil {
		n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{
			Type: v1.NodeReady, Status: v1.ConditionUnknown, Reason: reasonNeverUpdated,
			Message: "Kubelet never reported status for this node.", LastHeartbeatTime: now, LastTransitionTime: now,
		})
	}
	for _, t := range []v1.NodeConditionType{v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		cond := condition(n, t)
		if cond == nil || cond.Status == v1.ConditionUnknown {
			continue
		}
		cond.Status = v1.ConditionUnknown
		cond.Reason = reasonUnknown
		cond.Message = fmt.Sprintf("No Lease renewal or node status update for more than %s.", c.opts.GracePeriod)
		cond.LastTransitionTime = now
	}
	out, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set node %s Ready=Unknown: %w", n.Name, err)
	}
	c.log.Info("node stopped heartbeating; marked Ready=Unknown", "node", n.Name)
	return out, nil
}

// markReady restores conditions this controller set to Unknown once the
// node's Lease is renewed again.
func (c *Controller) markReady(ctx context.Context, n *v1.Node) (*v1.Node, error) {
	now := metav1.NewTime(c.clock.Now())
	n = n.DeepCopy()
	for i := range n.Status.Conditions {
		cond := &n.Status.Conditions[i]
		if cond.Status != v1.ConditionUnknown || (cond.Reason != reasonUnknown && cond.Reason != reasonNeverUpdated) {
			continue
		}
		cond.Status = v1.ConditionFalse
		if cond.Type == v1.NodeReady {
			cond.Status = v1.ConditionTrue
		}
		cond.Reason = reasonResumed
		cond.Message = "Lease renewals resumed."
		cond.LastTransitionTime = now
		cond.LastHeartbeatTime = now
	}
	out, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set node %s Ready=True: %w", n.Name, err)
	}
	c.log.Info("node heartbeats resumed; marked Ready", "node", n.Name)
	return out, nil
}

func (c *Controller) podsOn(node string) []*v1.Pod {
	objs, err := c.pods.ByIndex(podNodeIndex, node)
	if err != nil {
		return nil
	}
	out := make([]*v1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*v1.Pod); ok && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// markPodsNotReady flips the Ready condition of pods on a silent node, so
// Services stop sending them traffic before they are evicted.
func (c *Controller) markPodsNotReady(ctx context.Context, node string) {
	now := metav1.NewTime(c.clock.Now())
	for _, p := range c.podsOn(node) {
		changed := false
		p = p.DeepCopy()
		for i := range p.Status.Conditions {
			cond := &p.Status.Conditions[i]
			if (cond.Type == v1.PodReady || cond.Type == v1.ContainersReady) && cond.Status == v1.ConditionTrue {
				cond.Status = v1.ConditionFalse
				cond.Reason = "NodeNotReady"
				cond.LastTransitionTime = now
				changed = true
			}
		}
		if !changed {
			continue
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			c.log.Warn("marking pod not ready failed; next period retries eviction anyway", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}
