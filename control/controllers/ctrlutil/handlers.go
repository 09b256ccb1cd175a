package ctrlutil

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// OwnerHandler is the event handler of a controller's own objects (Jobs,
// DaemonSets): each add or update queues the object's key; a delete drops
// the expectations kept for it.
func OwnerHandler(queue workqueue.TypedRateLimitingInterface[string], exp *Expectations) cache.ResourceEventHandlerFuncs {
	enqueue := func(o any) {
		if k := Key(o); k != "" {
			queue.Add(k)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
		DeleteFunc: func(o any) {
			if k := Key(o); k != "" {
				exp.Delete(k)
			}
		},
	}
}

// OwnedPodHandler is the pod event handler of a controller whose pods name
// an object of kind as their controller: each event counts the pod's
// creation or deletion in exp and queues the owner's namespace/name key.
// onUpdate, when not nil, also sees each update of an owned pod.
func OwnedPodHandler(kind string, queue workqueue.TypedRateLimitingInterface[string], exp *Expectations,
	onUpdate func(key string, old, cur *corev1.Pod)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if k := OwnerKey(o, kind); k != "" {
				exp.CreationObserved(k)
				queue.Add(k)
			}
		},
		UpdateFunc: func(o, n any) {
			k := OwnerKey(n, kind)
			if k == "" {
				return
			}
			old, cur := o.(*corev1.Pod), n.(*corev1.Pod)
			if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
				exp.DeletionObserved(k, cur.Namespace+"/"+cur.Name)
			}
			queue.Add(k)
			if onUpdate != nil {
				onUpdate(k, old, cur)
			}
		},
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if k := OwnerKey(o, kind); k != "" {
				p := o.(*corev1.Pod)
				exp.DeletionObserved(k, p.Namespace+"/"+p.Name)
				queue.Add(k)
			}
		},
	}
}

// OwnerKey returns the namespace/name key of the object of kind that
// controls pod o, or "" when o is not a pod or has no such controller.
func OwnerKey(o any, kind string) string {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return ""
	}
	ref := ControllerOf(p)
	if ref == nil || ref.Kind != kind {
		return ""
	}
	return p.Namespace + "/" + ref.Name
}
