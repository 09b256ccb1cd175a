package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

// Controller is the garbage collector.
type Controller struct {
	client kubernetes.Interface
	kinds  map[string]*kind
	graph  *graph
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New builds the collector on factory's informers for every kind in its table.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	c := &Controller{
		client: client,
		kinds:  map[string]*kind{},
		graph:  newGraph(),
		queue:  ctrlutil.NewQueue("garbagecollector"),
	}
	for _, k := range kindTable(client, factory) {
		k := k
		c.kinds[k.id()] = k
		c.synced = append(c.synced, k.informer.HasSynced)
		k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.observe(k, o) },
			UpdateFunc: func(_, o any) { c.observe(k, o) },
			DeleteFunc: func(o any) { c.forget(o) },
		})
	}
	return c
}

// Run processes the graph with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "garbagecollector", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) observe(k *kind, obj any) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	n := &node{
		kind: k, namespace: m.GetNamespace(), name: m.GetName(), uid: m.GetUID(),
		owners:     m.GetOwnerReferences(),
		deleting:   m.GetDeletionTimestamp() != nil,
		finalizers: m.GetFinalizers(),
	}
	old := c.graph.upsert(n)
	uid := string(n.uid)
	switch {
	case n.deleting && (n.hasFinalizer(metav1.FinalizerOrphanDependents) || n.hasFinalizer(metav1.FinalizerDeleteDependents)):
		c.queue.Add(uid)
	case len(n.owners) > 0 && (old == nil || !sameOwners(old.owners, n.owners)):
		c.queue.Add(uid)
	}
	// A dependent that changed may unblock an owner in foreground deletion.
	if old != nil {
		for _, r := range old.owners {
			c.enqueueIfForeground(r.UID)
		}
	}
}

func (c *Controller) forget(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	old := c.graph.remove(m.GetUID())
	if old == nil {
		return
	}
	// Its dependents may now dangle; its owners may be waiting for it.
	for _, d := range c.graph.dependentsOf(old.uid) {
		c.queue.Add(string(d.uid))
	}
	for _, r := range old.owners {
		c.enqueueIfForeground(r.UID)
	}
}

func (c *Controller) enqueueIfForeground(uid types.UID) {
	if o := c.graph.get(uid); o != nil && o.deleting && o.hasFinalizer(metav1.FinalizerDeleteDependents) {
		c.queue.Add(string(uid))
	}
}

func sameOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || !boolEq(a[i].BlockOwnerDeletion, b[i].BlockOwnerDeletion) {
			return false
		}
	}
	return true
}

func boolEq(a, b *bool) bool { return (a != nil && *a) == (b != nil && *b) }

func (c *Controller) sync(ctx context.Context, key string) error {
	n := c.graph.get(types.UID(key))
	if n == nil {
		return nil
	}
	if n.deleting {
		switch {
		case n.hasFinalizer(metav1.FinalizerOrphanDependents):
			return c.orphan(ctx, n)
		case n.hasFinalizer(metav1.FinalizerDeleteDependents):
			return c.foreground(ctx, n)
		}
	}
	if len(n.owners) == 0 {
		return nil
	}
	return c.attemptToDelete(ctx, n)
}

type ownerState int

const (
	ownerPresent ownerState = iota
	ownerGone
	ownerWaiting // present, deleting in the foreground
)

// ownerStatus checks one owner reference, from the cache first, then with a
// live GET so a lagging cache never causes a deletion.
func (c *Controller) ownerStatus(ctx context.Context, dep *node, r metav1.OwnerReference) (ownerState, error) {
	if o := c.graph.get(r.UID); o != nil {
		if o.deleting && o.hasFinalizer(metav1.FinalizerDeleteDependents) {
			return ownerWaiting, nil
		}
		return ownerPresent, nil
	}
	k := c.kinds[r.APIVersion+"/"+r.Kind]
	if k == nil {
		return ownerPresent, nil // a kind we cannot check is assumed alive
	}
	ns := dep.namespace
	if !k.namespaced {
		ns = ""
	}
	live, err := k.get(ctx, ns, r.Name)
	if apierrors.IsNotFound(err) {
		return ownerGone, nil
	}
	if err != nil {
		return ownerPresent, fmt.Errorf("look up owner %s %s/%s: %w", r.Kind, ns, r.Name, err)
	}
	if live.GetUID() != r.UID {
		return ownerGone, nil
	}
	if live.GetDeletionTimestamp() != nil && hasString(live.GetFinalizers(), metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerPresent, nil
}

func hasString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Controller) attemptToDelete(ctx context.Context, n *node) error {
	var gone, waiting, present []metav1.OwnerReference
	for _, r := range n.owners {
		st, err := c.ownerStatus(ctx, n, r)
		if err != nil {
			return err
		}
		switch st {
		case ownerGone:
			gone = append(gone, r)
		case ownerWaiting:
			waiting = append(waiting, r)
		default:
			present = append(present, r)
		}
	}
	if len(present) > 0 {
		// Keep the object; drop dangling references and stop blocking
		// owners that are being deleted in the foreground.
		if len(gone) == 0 && !anyBlocking(waiting) {
			return nil
		}
		return c.editOwners(ctx, n, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			var out []metav1.OwnerReference
			for _, r := range refs {
				if containsUID(gone, r.UID) {
					continue
				}
				if containsUID(waiting, r.UID) && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
					f := false
					r.BlockOwnerDeletion = &f
				}
				out = append(out, r)
			}
			return out
		})
	}
	if n.deleting {
		return nil // already going away
	}
	policy := metav1.DeletePropagationBackground
	if len(waiting) > 0 {
		// An owner waits for us: our own dependents go first.
		policy = metav1.DeletePropagationForeground
	}
	// The graph may lag the API: an orphaning owner may already have
	// stripped its reference from the live object. Decide on the live
	// owner list, and delete only the exact version we looked at.
	live, err := n.kind.get(ctx, n.namespace, n.name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-read %s %s/%s before deleting: %w", n.kind.kind, n.namespace, n.name, err)
	}
	if live.GetUID() != n.uid || !sameOwners(live.GetOwnerReferences(), n.owners) {
		return nil // the informer event for the change re-queues it
	}
	slog.Debug("garbage collecting", "kind", n.kind.kind, "namespace", n.namespace, "name", n.name, "propagation", policy)
	uid, rv := n.uid, live.GetResourceVersion()
	err = n.kind.del(ctx, n.namespace, n.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", n.kind.kind, n.namespace, n.name, err)
	}
	return nil
}

func anyBlocking(refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

func containsUID(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// foreground deletes owner's dependents and lifts the foregroundDeletion
// finalizer once no blocking dependent remains.
func (c *Controller) foreground(ctx context.Context, owner *node) error {
	blocking := 0
	for _, d := range c.graph.dependentsOf(owner.uid) {
		for _, r := range d.owners {
			if r.UID == owner.uid && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				blocking++
			}
		}
		if !d.deleting {
			if err := c.attemptToDelete(ctx, d); err != nil {
				return err
			}
		}
	}
	if blocking > 0 {
		return nil // their deletions re-queue us
	}
	return c.removeFinalizer(ctx, owner, metav1.FinalizerDeleteDependents)
}

// orphan strips owner's reference from its dependents, then lifts the
// orphan finalizer.
func (c *Controller) orphan(ctx context.Context, owner *node) error {
	var errs []error
	for _, d := range c.graph.dependentsOf(owner.uid) {
		err := c.editOwners(ctx, d, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			var out []metav1.OwnerReference
			for _, r := range refs {
				if r.UID != owner.uid {
					out = append(out, r)
				}
			}
			return out
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.removeFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// editOwners rewrites n's ownerReferences with fn (read-modify-write,
// retried on conflict).
func (c *Controller) editOwners(ctx context.Context, n *node, fn func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := n.kind.get(ctx, n.namespace, n.name)
		if err != nil {
			return err
		}
		if live.GetUID() != n.uid {
			return nil
		}
		live.SetOwnerReferences(fn(live.GetOwnerReferences()))
		return n.kind.update(ctx, live)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update ownerReferences of %s %s/%s: %w", n.kind.kind, n.namespace, n.name, err)
	}
	return nil
}

func (c *Controller) removeFinalizer(ctx context.Context, n *node, f string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := n.kind.get(ctx, n.namespace, n.name)
		if err != nil {
			return err
		}
		if live.GetUID() != n.uid {
			return nil
		}
		var keep []string
		for _, x := range live.GetFinalizers() {
			if x != f {
				keep = append(keep, x)
			}
		}
		if len(keep) == len(live.GetFinalizers()) {
			return nil
		}
		live.SetFinalizers(keep)
		return n.kind.update(ctx, live)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove finalizer %s from %s %s/%s: %w", f, n.kind.kind, n.namespace, n.name, err)
	}
	slog.Debug("finalizer removed", "finalizer", f, "kind", n.kind.kind, "namespace", n.namespace, "name", n.name)
	return nil
}
