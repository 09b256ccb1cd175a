package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Names written into labels so other controllers (and kubectl) can tell who
// manages an object.
const (
	// ControllerName manages slices of Services with a selector.
	ControllerName = "endpointslice-controller.k8s.io"
	// MirrorControllerName manages slices mirrored from user Endpoints.
	MirrorControllerName = "endpointslicemirroring-controller.k8s.io"
	// EndpointsManagedByLabel marks Endpoints this controller wrote.
	EndpointsManagedByLabel = "endpoints.kubernetes.io/managed-by"
	// EndpointsControllerName is that label's value.
	EndpointsControllerName = "endpoint-controller"
	headlessLabel           = "service.kubernetes.io/headless"
	zoneLabel               = "topology.kubernetes.io/zone"
	serviceIndex            = "service"
)

// Options tune the controller. The zero value is usable.
type Options struct {
	Logger *slog.Logger
}

// Controller reconciles Endpoints and EndpointSlices per Service.
type Controller struct {
	client       kubernetes.Interface
	services     corelisters.ServiceLister
	pods         corelisters.PodLister
	endpoints    corelisters.EndpointsLister
	nodes        corelisters.NodeLister
	slices       cache.Indexer
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	log          *slog.Logger
	expectMu     sync.Mutex
	expectations map[string]*expectation
}

// New registers handlers on factory's informers; start the factory and call
// Run.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) (*Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	epInf := factory.Core().V1().Endpoints()
	nodeInf := factory.Core().V1().Nodes()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:    client,
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		nodes:     nodeInf.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoints"}),
		log:          opts.Logger.With("controller", "endpoints"),
		expectations: map[string]*expectation{},
	}
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{serviceIndex: sliceServiceKey}); err != nil {
		return nil, fmt.Errorf("endpoints: slice index (create the controller before starting the informer factory): %w", err)
	}
	c.slices = sliceInf.Informer().GetIndexer()
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueObject,
			UpdateFunc: func(_, o any) { c.enqueueObject(o) },
			DeleteFunc: c.enqueueObject,
		}},
		{epInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueObject,
			UpdateFunc: func(_, o any) { c.enqueueObject(o) },
			DeleteFunc: c.enqueueObject,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.onPod(nil, o) },
			UpdateFunc: c.onPod,
			DeleteFunc: func(o any) { c.onPod(nil, o) },
		}},
		{sliceInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.onSlice,
			UpdateFunc: func(_, o any) { c.onSlice(o) },
			DeleteFunc: c.onSlice,
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("endpoints: add event handler: %w", err)
		}
	}
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
		epInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nodeInf.Informer().HasSynced}
	return c, nil
}

func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

// Run processes services with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("endpoints: informer caches did not sync; check that the API server is reachable")
	}
	c.log.Info("endpoints controller started", "workers", workers)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for c.processNext(ctx) {
				}
			}, time.Second)
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		if c.queue.NumRequeues(key) < 15 {
			c.log.Warn("sync failed; retrying", "service", key, "err", err)
			c.queue.AddRateLimited(key)
			return true
		}
		c.log.Error("sync failed repeatedly; giving up until the service or its pods change", "service", key, "err", err)
	}
	c.queue.Forget(key)
	return true
}

func (c *Controller) enqueueObject(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) onSlice(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	switch s.Labels[discoveryv1.LabelManagedBy] {
	case ControllerName, MirrorControllerName:
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			c.queue.Add(s.Namespace + "/" + name)
		}
	}
}

// onPod enqueues every service whose selector matches the pod before or
// after the change.
func (c *Controller) onPod(oldObj, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	old, _ := oldObj.(*v1.Pod)
	if old != nil && !relevantChange(old, pod) {
		return
	}
	svcs, err := c.services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if svc.Spec.Selector == nil {
			continue
		}
		if selects(svc.Spec.Selector, pod.Labels) || (old != nil && selects(svc.Spec.Selector, old.Labels)) {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

// selects is a Service selector match (an empty selector selects nothing,
// as for Services).
func selects(sel, lbls map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if got, ok := lbls[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// relevantChange reports whether a pod update can change any endpoint.
func relevantChange(old, cur *v1.Pod) bool {
	if !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		return true
	}
	oldIP, curIP := podIPv4(old), podIPv4(cur)
	if oldIP != curIP {
		return true
	}
	if curIP == "" {
		return false // unpublished before and after
	}
	terminal := func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed }
	if isPodReady(old) != isPodReady(cur) || (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Spec.NodeName != cur.Spec.NodeName || terminal(old) != terminal(cur) ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain {
		return true
	}
	if len(old.Spec.Containers) != len(cur.Spec.Containers) {
		return true
	}
	for i := range cur.Spec.Containers {
		if !equality.Semantic.DeepEqual(old.Spec.Containers[i].Ports, cur.Spec.Containers[i].Ports) {
			return true
		}
	}
	return false
}

func (c *Controller) zoneOf(node string) string {
	n, err := c.nodes.Get(node)
	if err != nil {
		return ""
	}
	return n.Labels[zoneLabel]
}
