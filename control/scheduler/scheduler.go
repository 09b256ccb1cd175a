package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves.
const DefaultSchedulerName = "default-scheduler"

// Options tune the scheduler. The zero value is usable.
type Options struct {
	// SchedulerName is the spec.schedulerName served (default
	// "default-scheduler"); pods with an empty name are served too.
	SchedulerName string
	// BindWorkers caps concurrent binding requests (default 16).
	BindWorkers int
	// Recorder receives Scheduled/FailedScheduling events. When nil the
	// scheduler writes events through its own broadcaster on client.
	Recorder record.EventRecorder
	// UnschedulableTimeout is the longest a parked pod waits before it is
	// retried without any cluster change (default 60s).
	UnschedulableTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Scheduler places pending pods on nodes. Create it with New, then Run.
type Scheduler struct {
	client      kubernetes.Interface
	podLister   corelisters.PodLister
	synced      []toolscache.InformerSynced
	cache       *cache
	queue       *queue
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	opts        Options
	log         *slog.Logger
	bindSem     chan struct{}
	bindWG      sync.WaitGroup
}

// New registers the scheduler's event handlers on factory's pod and node
// informers. Start the factory (before or after) and call Run.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) (*Scheduler, error) {
	if opts.SchedulerName == "" {
		opts.SchedulerName = DefaultSchedulerName
	}
	if opts.BindWorkers <= 0 {
		opts.BindWorkers = 16
	}
	if opts.UnschedulableTimeout <= 0 {
		opts.UnschedulableTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scheduler{
		client:  client,
		cache:   newCache(),
		queue:   newQueue(),
		opts:    opts,
		log:     opts.Logger.With("component", "scheduler"),
		bindSem: make(chan struct{}, opts.BindWorkers),
	}
	s.recorder = opts.Recorder
	if s.recorder == nil {
		s.broadcaster = record.NewBroadcaster()
		s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: opts.SchedulerName})
	}
	pods := factory.Core().V1().Pods()
	nodes := factory.Core().V1().Nodes()
	s.podLister = pods.Lister()
	if _, err := pods.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onPod(nil, o) },
		UpdateFunc: func(old, o any) { s.onPod(old, o) },
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: pod informer handler: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onNode(nil, o) },
		UpdateFunc: func(old, o any) { s.onNode(old, o) },
		DeleteFunc: s.onNodeDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: node informer handler: %w", err)
	}
	s.synced = []toolscache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced}
	return s, nil
}

// Run schedules pods until ctx ends. It waits for the informer caches first.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.broadcaster != nil {
		s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		defer s.broadcaster.Shutdown()
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("scheduler: informer caches did not sync before shutdown; check that the API server is reachable")
	}
	s.log.Info("scheduler started", "schedulerName", s.opts.SchedulerName)
	go func() {
		<-ctx.Done()
		s.queue.close()
	}()
	go func() {
		t := time.NewTicker(s.opts.UnschedulableTimeout / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				s.queue.flushOlderThan(now.Add(-s.opts.UnschedulableTimeout))
			}
		}
	}()
	for {
		key, cycle, ok := s.queue.pop()
		if !ok {
			break
		}
		s.scheduleOne(ctx, key, cycle)
	}
	s.bindWG.Wait()
	return nil
}

func (s *Scheduler) responsible(pod *v1.Pod) bool {
	return pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == s.opts.SchedulerName
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (s *Scheduler) onPod(oldObj, obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := podKey(pod)
	switch {
	case pod.Spec.NodeName != "" && !terminal(pod):
		s.cache.addPod(key, pod, pod.Spec.NodeName)
		s.queue.remove(key)
	case pod.Spec.NodeName != "":
		// Finished pods free their resources.
		if s.cache.has(key) {
			s.cache.removePod(key)
			s.queue.moveAll()
		}
	case pod.DeletionTimestamp == nil && s.responsible(pod) && !terminal(pod):
		if old, ok := oldObj.(*v1.Pod); ok && old.Spec.NodeName == "" &&
			equality.Semantic.DeepEqual(old.Spec, pod.Spec) && equality.Semantic.DeepEqual(old.Labels, pod.Labels) {
			return // status-only change (e.g. our own PodScheduled condition): already queued or parked
		}
		s.queue.add(key)
	default:
		s.queue.remove(key)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := podKey(pod)
	s.queue.remove(key)
	if s.cache.has(key) {
		s.cache.removePod(key)
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNode(oldObj, obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	s.cache.setNode(node)
	if old, ok := oldObj.(*v1.Node); ok && !schedulingRelevantChange(old, node) {
		return
	}
	s.queue.moveAll()
}

// schedulingRelevantChange ignores heartbeat-only node status updates.
func schedulingRelevantChange(old, cur *v1.Node) bool {
	if old.Spec.Unschedulable != cur.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		return true
	}
	return readyStatus(old) != readyStatus(cur)
}

func readyStatus(n *v1.Node) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status
		}
	}
	return v1.ConditionUnknown
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*v1.Node); ok {
		s.cache.removeNode(node.Name)
	}
}

// scheduleOne makes one attempt for the pod behind key.
func (s *Scheduler) scheduleOne(ctx context.Context, key string, cycle int64) {
	ns, name, err := toolscache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if err != nil || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || !s.responsible(pod) || terminal(pod) {
		return // gone, bound meanwhile, or not ours
	}
	if s.cache.has(key) {
		return // assumed; binding in flight
	}
	c := &candidate{pod: pod, info: newPodInfo(key, pod, "")}
	nodeName, total, reasons := s.selectHost(c)
	if nodeName == "" {
		msg := failureMessage(total, reasons)
		s.log.Debug("pod unschedulable", "pod", key, "reason", msg)
		s.recorder.Event(pod, v1.EventTypeWarning, "FailedScheduling", msg)
		s.queue.unschedulableAt(key, cycle, time.Now())
		if needsUnschedulableCondition(pod, msg) {
			s.bindSem <- struct{}{}
			s.bindWG.Add(1)
			go func() {
				defer func() { <-s.bindSem; s.bindWG.Done() }()
				s.setUnschedulable(ctx, pod, msg)
			}()
		}
		return
	}
	s.bindSem <- struct{}{}
	s.bindWG.Add(1)
	go func() {
		defer func() { <-s.bindSem; s.bindWG.Done() }()
		s.bind(ctx, pod, key, nodeName)
	}()
}

// selectHost filters and scores every node under the cache lock, and on
// success assumes the pod on the winner before releasing it.
func (s *Scheduler) selectHost(c *candidate) (string, int, map[string]int) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	feasible := make([]*nodeInfo, 0, len(s.cache.names))
	var reasons map[string]int
	maxOwner := 0
	for _, name := range s.cache.names {
		ni := s.cache.nodes[name]
		if why := filter(c, ni); len(why) > 0 {
			if reasons == nil {
				reasons = map[string]int{}
			}
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		feasible = append(feasible, ni)
		if c.info.owner != "" {
			maxOwner = max(maxOwner, ni.owners[c.info.owner])
		}
	}
	if len(feasible) == 0 {
		return "", len(s.cache.names), reasons
	}
	var best *nodeInfo
	var bestScore int64 = -1
	ties := 0
	for _, ni := range feasible {
		sc := score(c, ni, maxOwner)
		switch {
		case sc > bestScore:
			best, bestScore, ties = ni, sc, 1
		case sc == bestScore:
			ties++
			if rand.IntN(ties) == 0 {
				best = ni
			}
		}
	}
	c.info.nodeName = best.node.Name
	s.cache.assumeLocked(c.info)
	return best.node.Name, len(s.cache.names), nil
}

func (s *Scheduler) bind(ctx context.Context, pod *v1.Pod, key, nodeName string) {
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil {
		s.cache.forgetAssumed(key, pod.UID, nodeName)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || ctx.Err() != nil {
			// Deleted, recreated, or already bound elsewhere: the informer
			// will tell us what happened.
			s.log.Debug("binding skipped", "pod", key, "node", nodeName, "err", err)
			return
		}
		s.log.Warn("binding failed; will retry", "pod", key, "node", nodeName, "err", err)
		s.recorder.Eventf(pod, v1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
		s.queue.addAfter(key, time.Second)
		return
	}
	s.recorder.Eventf(pod, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s to %s", key, nodeName)
}

func needsUnschedulableCondition(pod *v1.Pod, msg string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c.Status != v1.ConditionFalse || c.Reason != v1.PodReasonUnschedulable || c.Message != msg
		}
	}
	return true
}

// setUnschedulable records PodScheduled=False/Unschedulable with the reason
// on the pod, as kubectl describe shows it under Conditions.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *v1.Pod, msg string) {
	upd := pod.DeepCopy()
	now := metav1.Now()
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable,
		Message: msg, LastProbeTime: now, LastTransitionTime: now}
	found := false
	for i := range upd.Status.Conditions {
		if upd.Status.Conditions[i].Type == v1.PodScheduled {
			if upd.Status.Conditions[i].Status == v1.ConditionFalse {
				cond.LastTransitionTime = upd.Status.Conditions[i].LastTransitionTime
			}
			upd.Status.Conditions[i] = cond
			found = true
		}
	}
	if !found {
		upd.Status.Conditions = append(upd.Status.Conditions, cond)
	}
	if _, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		s.log.Debug("recording PodScheduled=False failed; the next attempt retries", "pod", podKey(pod), "err", err)
	}
}
