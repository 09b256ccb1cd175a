package serviceaccount

import (
	"context"
	"fmt"

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

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller creates the default ServiceAccount.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller on factory's Namespace and ServiceAccount informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	nsInf := factory.Core().V1().Namespaces()
	saInf := factory.Core().V1().ServiceAccounts()
	c := &Controller{
		client:   client,
		nsLister: nsInf.Lister(),
		saLister: saInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		queue:    ctrlutil.NewQueue("serviceaccount"),
	}
	nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { c.enqueueNS(o) },
		UpdateFunc: func(_, o any) { c.enqueueNS(o) },
	})
	saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if sa, ok := o.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.queue.Add(sa.Namespace)
			}
		},
	})
	return c
}

func (c *Controller) enqueueNS(o any) {
	if ns, ok := o.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// Run processes namespaces with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "serviceaccount", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	if active, err := ctrlutil.ActiveNamespace(c.nsLister, name); !active || err != nil {
		return err
	}
	if _, err := c.saLister.ServiceAccounts(name).Get(DefaultName); err == nil {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: name}}
	_, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err), apierrors.IsNotFound(err):
		return nil // the namespace is going away
	}
	return fmt.Errorf("create default serviceaccount in %s: %w", name, err)
}
