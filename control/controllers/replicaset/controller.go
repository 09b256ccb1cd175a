package replicaset

import (
	"context"
	"fmt"
	"time"

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

// BurstReplicas caps how many pods one sync creates or deletes.
const BurstReplicas = 500

var gvk = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller reconciles ReplicaSets with their pods.
type Controller struct {
	client    kubernetes.Interface
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	pods      *ctrlutil.PodSource
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	exp       *ctrlutil.Expectations
	rec       record.EventRecorder
	clock     clock.Clock
}

// New builds the controller on factory's ReplicaSet and Pod informers.
// rec may be nil.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rec record.EventRecorder) *Controller {
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		pods:      ctrlutil.NewPodSource(podInf.Informer()),
		synced:    []cache.InformerSynced{rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:     ctrlutil.NewQueue("replicaset"),
		exp:       ctrlutil.NewExpectations(),
		rec:       events.OrDiscard(rec),
		clock:     clock.RealClock{},
	}
	rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, n any) { c.enqueue(n) },
		DeleteFunc: func(o any) {
			if k := ctrlutil.Key(o); k != "" {
				c.exp.Delete(k)
				c.queue.Add(k)
			}
		},
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// SetClock replaces the clock used for minReadySeconds (tests).
func (c *Controller) SetClock(cl clock.Clock) { c.clock = cl }

// Run processes ReplicaSets with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "replicaset", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if k := ctrlutil.Key(obj); k != "" {
		c.queue.Add(k)
	}
}

// ownerKey returns the key of the ReplicaSet that controls pod, if it exists.
func (c *Controller) ownerKey(pod *corev1.Pod, ref *metav1.OwnerReference) string {
	if ref == nil || ref.Kind != "ReplicaSet" {
		return ""
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return ""
	}
	return pod.Namespace + "/" + rs.Name
}

// enqueueMatching queues every ReplicaSet whose selector matches an orphan pod.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	list, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rs := range list {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			c.queue.Add(pod.Namespace + "/" + rs.Name)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := ctrlutil.ControllerOf(pod); ref != nil {
		if k := c.ownerKey(pod, ref); k != "" {
			c.exp.CreationObserved(k)
			c.queue.Add(k)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion != "" && old.ResourceVersion == cur.ResourceVersion {
		return // periodic resync
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		c.deletePod(cur)
	}
	oldRef, curRef := ctrlutil.ControllerOf(old), ctrlutil.ControllerOf(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if k := c.ownerKey(old, oldRef); k != "" {
			c.queue.Add(k)
		}
	}
	if curRef != nil {
		k := c.ownerKey(cur, curRef)
		if k == "" {
			return
		}
		c.queue.Add(k)
		// A pod that just became ready turns available after minReadySeconds.
		if !ctrlutil.IsPodReady(old) && ctrlutil.IsPodReady(cur) {
			if rs, err := c.rsLister.ReplicaSets(cur.Namespace).Get(curRef.Name); err == nil && rs.Spec.MinReadySeconds > 0 {
				c.queue.AddAfter(k, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if !labels.Equals(old.Labels, cur.Labels) || oldRef != nil {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := ctrlutil.ControllerOf(pod)
	if k := c.ownerKey(pod, ref); k != "" {
		c.exp.DeletionObserved(k, pod.Namespace+"/"+pod.Name)
		c.queue.Add(k)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.rec.Eventf(rs, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v; fix spec.selector", err)
		return nil
	}
	satisfied := c.exp.Satisfied(key)
	all, err := c.pods.Candidates(ns, rs.UID)
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	for _, p := range all {
		if ctrlutil.IsPodActive(p) {
			active = append(active, p)
		}
	}
	ref := ctrlutil.NewControllerRef(rs, gvk)
	pods, claimErr := ctrlutil.Claim(ctx, rs, ref, sel, active, rs.DeletionTimestamp != nil,
		func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, n, pt, data, metav1.PatchOptions{})
			return err
		})
	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, key, rs, pods)
	}
	if err := c.updateStatus(ctx, rs, pods, manageErr); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	return claimErr
}

func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	diff := len(pods) - int(want)
	switch {
	case diff < 0:
		n := min(-diff, BurstReplicas)
		c.exp.Expect(key, n, nil)
		ref := ctrlutil.NewControllerRef(rs, gvk)
		created, err := ctrlutil.SlowStart(n, func() error {
			pod := ctrlutil.PodFromTemplate(&rs.Spec.Template, rs.Namespace, rs.Name, ref)
			out, err := ctrlutil.CreatePod(ctx, c.client, pod)
			if err != nil {
				c.exp.CreationObserved(key)
				if apierrors.IsAlreadyExists(err) {
					return nil
				}
				c.rec.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				return err
			}
			c.rec.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
			return nil
		})
		for i := created; i < n; i++ {
			c.exp.CreationObserved(key) // never attempted
		}
		return err
	case diff > 0:
		victims := PodsToDelete(pods, min(diff, BurstReplicas))
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.exp.Expect(key, 0, keys)
		var firstErr error
		for _, p := range victims {
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			if err != nil {
				c.exp.DeletionObserved(key, p.Namespace+"/"+p.Name)
				if apierrors.IsNotFound(err) {
					continue
				}
				c.rec.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				if firstErr == nil {
					firstErr = fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
				}
				continue
			}
			c.rec.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
		}
		return firstErr
	}
	return nil
}
