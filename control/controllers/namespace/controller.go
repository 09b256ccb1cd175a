package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

// RecheckInterval is how long to wait before looking again at a namespace
// whose content is still being deleted.
var RecheckInterval = 2 * time.Second

// Controller empties and finalizes namespaces being deleted.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	kinds    []content
}

// New builds the controller on factory's Namespace informer.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	inf := factory.Core().V1().Namespaces()
	c := &Controller{
		client:   client,
		nsLister: inf.Lister(),
		synced:   []cache.InformerSynced{inf.Informer().HasSynced},
		queue:    ctrlutil.NewQueue("namespace"),
		kinds:    contents(client),
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, o any) { c.enqueue(o) },
	})
	return c
}

func (c *Controller) enqueue(o any) {
	if ns, ok := o.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
		c.queue.Add(ns.Name)
	}
}

// Run processes namespaces with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "namespace", workers, c.queue, c.sync, c.synced...)
}

func hasKubernetesFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return true
		}
	}
	return false
}

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !hasKubernetesFinalizer(ns) {
		return nil
	}
	remaining, withFinalizers, err := c.deleteContent(ctx, name)
	if err != nil {
		return err
	}
	if len(remaining) > 0 {
		slog.Info("namespace content still being deleted", "namespace", name, "remaining", strings.Join(remaining, ", "))
		if err := c.setConditions(ctx, ns, remaining, withFinalizers); err != nil {
			return err
		}
		c.queue.AddAfter(name, RecheckInterval)
		return nil
	}
	return c.finalize(ctx, ns)
}

// deleteContent deletes everything in ns and reports what is still there
// ("<resource> has N objects") and which finalizers hold objects back.
func (c *Controller) deleteContent(ctx context.Context, ns string) ([]string, []string, error) {
	bg := metav1.DeletePropagationBackground
	var remaining []string
	fins := map[string]bool{}
	for _, k := range c.kinds {
		list, err := k.list(ctx, ns)
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			continue // the server does not serve this kind
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list %s in namespace %s: %w", k.resource, ns, err)
		}
		objs, err := items(list)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range objs {
			for _, f := range o.GetFinalizers() {
				fins[f] = true
			}
			if o.GetDeletionTimestamp() != nil {
				continue
			}
			err := k.del(ctx, ns, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return nil, nil, fmt.Errorf("delete %s %s/%s: %w", k.resource, ns, o.GetName(), err)
			}
		}
		// Count what is left after our deletes.
		list, err = k.list(ctx, ns)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s in namespace %s: %w", k.resource, ns, err)
		}
		objs, err = items(list)
		if err != nil {
			return nil, nil, err
		}
		if len(objs) > 0 {
			remaining = append(remaining, fmt.Sprintf("%s has %d resource instances", k.resource, len(objs)))
		}
	}
	var fl []string
	for f := range fins {
		fl = append(fl, f)
	}
	sort.Strings(fl)
	return remaining, fl, nil
}

func (c *Controller) setConditions(ctx context.Context, ns *corev1.Namespace, remaining, fins []string) error {
	cp := ns.DeepCopy()
	cp.Status.Phase = corev1.NamespaceTerminating
	now := metav1.Now()
	set := func(t corev1.NamespaceConditionType, status corev1.ConditionStatus, reason, msg string) {
		for i := range cp.Status.Conditions {
			if cp.Status.Conditions[i].Type == t {
				if cp.Status.Conditions[i].Status != status {
					cp.Status.Conditions[i].LastTransitionTime = now
				}
				cp.Status.Conditions[i].Status, cp.Status.Conditions[i].Reason, cp.Status.Conditions[i].Message = status, reason, msg
				return
			}
		}
		cp.Status.Conditions = append(cp.Status.Conditions, corev1.NamespaceCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	set(corev1.NamespaceContentRemaining, corev1.ConditionTrue, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(remaining, ", "))
	if len(fins) > 0 {
		set(corev1.NamespaceFinalizersRemaining, corev1.ConditionTrue, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+strings.Join(fins, ", "))
	} else {
		set(corev1.NamespaceFinalizersRemaining, corev1.ConditionFalse, "ContentHasNoFinalizers", "All content-preserving finalizers finished")
	}
	if equalStatus(ns.Status, cp.Status) {
		return nil
	}
	_, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // retried on the next pass
	}
	return err
}

func equalStatus(a, b corev1.NamespaceStatus) bool {
	if a.Phase != b.Phase || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}

// finalize removes "kubernetes" from spec.finalizers.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	cp := ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range cp.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	cp.Spec.Finalizers = keep
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		// Either the namespace is gone or the server lacks /finalize.
		if _, gerr := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); apierrors.IsNotFound(gerr) {
			return nil
		}
		_, err = c.client.CoreV1().Namespaces().Update(ctx, cp, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("finalize namespace %s: %w", ns.Name, err)
	}
	slog.Info("namespace finalized", "namespace", ns.Name)
	return nil
}
