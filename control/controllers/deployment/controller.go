package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
	"github.com/skiffnet/skiff/control/controllers/events"
)

var gvk = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller rolls Deployments out through ReplicaSets.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	rec       record.EventRecorder
	clock     clock.Clock
}

// New builds the controller on factory's Deployment, ReplicaSet and Pod
// informers. rec may be nil.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rec record.EventRecorder) *Controller {
	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     ctrlutil.NewQueue("deployment"),
		rec:       events.OrDiscard(rec),
		clock:     clock.RealClock{},
	}
	dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: c.enqueue,
	})
	rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.rsChanged,
		UpdateFunc: func(o, n any) { c.rsChanged(o); c.rsChanged(n) },
		DeleteFunc: c.rsChanged,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.podDeleted,
	})
	return c
}

// SetClock replaces the clock used for conditions and progress deadlines.
func (c *Controller) SetClock(cl clock.Clock) { c.clock = cl }

// Run processes Deployments with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "deployment", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if k := ctrlutil.Key(obj); k != "" {
		c.queue.Add(k)
	}
}

func unwrap[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	v, ok := obj.(T)
	return v, ok
}

func (c *Controller) rsChanged(obj any) {
	rs, ok := unwrap[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	if ref := ctrlutil.ControllerOf(rs); ref != nil {
		if ref.Kind != "Deployment" {
			return
		}
		if d, err := c.dLister.Deployments(rs.Namespace).Get(ref.Name); err == nil && d.UID == ref.UID {
			c.queue.Add(rs.Namespace + "/" + d.Name)
		}
		return
	}
	// Orphan: any deployment that would adopt it.
	ds, _ := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.queue.Add(rs.Namespace + "/" + d.Name)
		}
	}
}

// podDeleted wakes a Recreate deployment waiting for its old pods to go.
func (c *Controller) podDeleted(obj any) {
	pod, ok := unwrap[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := ctrlutil.ControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil {
		return
	}
	if dref := ctrlutil.ControllerOf(rs); dref != nil && dref.Kind == "Deployment" {
		if d, err := c.dLister.Deployments(pod.Namespace).Get(dref.Name); err == nil &&
			d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			c.queue.Add(pod.Namespace + "/" + d.Name)
		}
	}
}

// claimRSs returns the RSs d controls, adopting and releasing by selector.
func (c *Controller) claimRSs(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned, err := ctrlutil.Claim(ctx, d, ctrlutil.NewControllerRef(d, gvk), sel, all, d.DeletionTimestamp != nil,
		func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(d.Namespace).Patch(ctx, n, pt, data, metav1.PatchOptions{})
			return err
		})
	// The sync updates these in place as it scales; never touch the cache.
	for i := range owned {
		owned[i] = owned[i].DeepCopy()
	}
	return owned, err
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		c.rec.Eventf(d, corev1.EventTypeWarning, "SelectingAll",
			"This deployment is selecting all pods or has an invalid selector; set a non-empty spec.selector")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return ignoreNotFound(err)
		}
		return nil
	}
	rss, err := c.claimRSs(ctx, d)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rss)
	}
	c.checkPaused(d)
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rss)
	}
	if c.isScalingEvent(d, rss) {
		return c.syncScale(ctx, d, rss)
	}
	if isRolling(d) {
		return c.rolloutRolling(ctx, d, rss)
	}
	return c.rolloutRecreate(ctx, d, rss)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// isScalingEvent: an active RS was sized for a different spec.replicas.
func (c *Controller) isScalingEvent(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) bool {
	want := fmt.Sprint(replicas(d))
	for _, rs := range activeRSs(rss) {
		if v, ok := rs.Annotations[DesiredReplicasAnnotation]; ok && v != want {
			return true
		}
	}
	return false
}
