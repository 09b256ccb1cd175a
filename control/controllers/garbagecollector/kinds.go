package garbagecollector

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kind is one entry of the table: how to watch, read, update and delete
// objects of one API kind.
type kind struct {
	apiVersion, kind string
	namespaced       bool
	informer         cache.SharedIndexInformer
	get              func(ctx context.Context, ns, name string) (metav1.Object, error)
	update           func(ctx context.Context, obj metav1.Object) error
	del              func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error
}

func (k *kind) id() string { return k.apiVersion + "/" + k.kind }

type typedClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

func entry[T metav1.Object](apiVersion, k string, namespaced bool, inf cache.SharedIndexInformer, cl func(ns string) typedClient[T]) *kind {
	return &kind{
		apiVersion: apiVersion, kind: k, namespaced: namespaced, informer: inf,
		get: func(ctx context.Context, ns, name string) (metav1.Object, error) {
			return cl(ns).Get(ctx, name, metav1.GetOptions{})
		},
		update: func(ctx context.Context, obj metav1.Object) error {
			_, err := cl(obj.GetNamespace()).Update(ctx, obj.(T), metav1.UpdateOptions{})
			return err
		},
		del: func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
			return cl(ns).Delete(ctx, name, opts)
		},
	}
}

// kindTable lists the kinds Skiff serves that take part in ownership.
// core/v1 Events are left out: nothing owns them and watching them all
// would cost memory for nothing.
func kindTable(c kubernetes.Interface, f informers.SharedInformerFactory) []*kind {
	core, apps := c.CoreV1(), c.AppsV1()
	return []*kind{
		entry("v1", "Pod", true, f.Core().V1().Pods().Informer(),
			func(ns string) typedClient[*corev1.Pod] { return core.Pods(ns) }),
		entry("v1", "Service", true, f.Core().V1().Services().Informer(),
			func(ns string) typedClient[*corev1.Service] { return core.Services(ns) }),
		entry("v1", "Endpoints", true, f.Core().V1().Endpoints().Informer(),
			func(ns string) typedClient[*corev1.Endpoints] { return core.Endpoints(ns) }),
		entry("v1", "ConfigMap", true, f.Core().V1().ConfigMaps().Informer(),
			func(ns string) typedClient[*corev1.ConfigMap] { return core.ConfigMaps(ns) }),
		entry("v1", "Secret", true, f.Core().V1().Secrets().Informer(),
			func(ns string) typedClient[*corev1.Secret] { return core.Secrets(ns) }),
		entry("v1", "ServiceAccount", true, f.Core().V1().ServiceAccounts().Informer(),
			func(ns string) typedClient[*corev1.ServiceAccount] { return core.ServiceAccounts(ns) }),
		entry("v1", "Node", false, f.Core().V1().Nodes().Informer(),
			func(string) typedClient[*corev1.Node] { return core.Nodes() }),
		entry("apps/v1", "Deployment", true, f.Apps().V1().Deployments().Informer(),
			func(ns string) typedClient[*appsv1.Deployment] { return apps.Deployments(ns) }),
		entry("apps/v1", "ReplicaSet", true, f.Apps().V1().ReplicaSets().Informer(),
			func(ns string) typedClient[*appsv1.ReplicaSet] { return apps.ReplicaSets(ns) }),
		entry("apps/v1", "DaemonSet", true, f.Apps().V1().DaemonSets().Informer(),
			func(ns string) typedClient[*appsv1.DaemonSet] { return apps.DaemonSets(ns) }),
		entry("batch/v1", "Job", true, f.Batch().V1().Jobs().Informer(),
			func(ns string) typedClient[*batchv1.Job] { return c.BatchV1().Jobs(ns) }),
		entry("discovery.k8s.io/v1", "EndpointSlice", true, f.Discovery().V1().EndpointSlices().Informer(),
			func(ns string) typedClient[*discoveryv1.EndpointSlice] { return c.DiscoveryV1().EndpointSlices(ns) }),
		entry("coordination.k8s.io/v1", "Lease", true, f.Coordination().V1().Leases().Informer(),
			func(ns string) typedClient[*coordv1.Lease] { return c.CoordinationV1().Leases(ns) }),
	}
}
