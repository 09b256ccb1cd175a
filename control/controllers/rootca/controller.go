package rootca

import (
	"context"
	"fmt"
	"maps"

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

// ConfigMapName is the ConfigMap each namespace gets, and DataKey its key.
const (
	ConfigMapName = "kube-root-ca.crt"
	DataKey       = "ca.crt"
)

// Controller keeps kube-root-ca.crt in every namespace.
type Controller struct {
	client   kubernetes.Interface
	data     map[string]string
	nsLister corelisters.NamespaceLister
	cmLister corelisters.ConfigMapLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New builds the controller on factory's Namespace and ConfigMap informers;
// caPEM is the cluster CA certificate.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, caPEM []byte) *Controller {
	nsInf := factory.Core().V1().Namespaces()
	cmInf := factory.Core().V1().ConfigMaps()
	c := &Controller{
		client:   client,
		data:     map[string]string{DataKey: string(caPEM)},
		nsLister: nsInf.Lister(),
		cmLister: cmInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced},
		queue:    ctrlutil.NewQueue("rootca"),
	}
	nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNS,
		UpdateFunc: func(_, o any) { c.enqueueNS(o) },
	})
	cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, o any) { c.enqueueCM(o) },
		DeleteFunc: c.enqueueCM,
	})
	return c
}

func (c *Controller) enqueueNS(o any) {
	if ns, ok := o.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) enqueueCM(o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	if cm, ok := o.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
		c.queue.Add(cm.Namespace)
	}
}

// Run processes namespaces with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "rootca", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	if active, err := ctrlutil.ActiveNamespace(c.nsLister, name); !active || err != nil {
		return err
	}
	cm, err := c.cmLister.ConfigMaps(name).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		want := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: name}, Data: maps.Clone(c.data)}
		_, err = c.client.CoreV1().ConfigMaps(name).Create(ctx, want, metav1.CreateOptions{})
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return nil // an existing one is checked on its informer event
		case apierrors.IsForbidden(err), apierrors.IsNotFound(err):
			return nil // the namespace is going away
		}
		return fmt.Errorf("create %s in namespace %s: %w", ConfigMapName, name, err)
	}
	if err != nil {
		return err
	}
	if maps.Equal(cm.Data, c.data) && len(cm.BinaryData) == 0 {
		return nil
	}
	fixed := cm.DeepCopy()
	fixed.Data, fixed.BinaryData = maps.Clone(c.data), nil
	if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, fixed, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("repair %s in namespace %s: %w", ConfigMapName, name, err)
	}
	return nil
}
