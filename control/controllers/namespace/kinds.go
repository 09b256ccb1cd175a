package namespace

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// content is one namespaced kind the controller empties.
type content struct {
	resource string
	list     func(ctx context.Context, ns string) (runtime.Object, error)
	del      func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error
}

type lister[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

func kindOf[L runtime.Object](resource string, cl func(ns string) lister[L]) content {
	return content{
		resource: resource,
		list: func(ctx context.Context, ns string) (runtime.Object, error) {
			return cl(ns).List(ctx, metav1.ListOptions{})
		},
		del: func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
			return cl(ns).Delete(ctx, name, opts)
		},
	}
}

// contents lists what lives in a namespace, workloads first so their
// controllers stop recreating pods.
func contents(c kubernetes.Interface) []content {
	core, apps := c.CoreV1(), c.AppsV1()
	return []content{
		kindOf("deployments.apps", func(ns string) lister[*appsListD] { return apps.Deployments(ns) }),
		kindOf("daemonsets.apps", func(ns string) lister[*appsListDS] { return apps.DaemonSets(ns) }),
		kindOf("jobs.batch", func(ns string) lister[*batchListJ] { return c.BatchV1().Jobs(ns) }),
		kindOf("replicasets.apps", func(ns string) lister[*appsListRS] { return apps.ReplicaSets(ns) }),
		kindOf("pods", func(ns string) lister[*coreListPod] { return core.Pods(ns) }),
		kindOf("services", func(ns string) lister[*coreListSvc] { return core.Services(ns) }),
		kindOf("endpoints", func(ns string) lister[*coreListEp] { return core.Endpoints(ns) }),
		kindOf("endpointslices.discovery.k8s.io", func(ns string) lister[*discListES] { return c.DiscoveryV1().EndpointSlices(ns) }),
		kindOf("configmaps", func(ns string) lister[*coreListCM] { return core.ConfigMaps(ns) }),
		kindOf("secrets", func(ns string) lister[*coreListSecret] { return core.Secrets(ns) }),
		kindOf("serviceaccounts", func(ns string) lister[*coreListSA] { return core.ServiceAccounts(ns) }),
		kindOf("leases.coordination.k8s.io", func(ns string) lister[*coordListLease] { return c.CoordinationV1().Leases(ns) }),
		kindOf("events", func(ns string) lister[*coreListEvent] { return core.Events(ns) }),
	}
}

// items returns the metadata of each item of a typed list.
func items(list runtime.Object) ([]metav1.Object, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]metav1.Object, 0, len(objs))
	for _, o := range objs {
		m, err := meta.Accessor(o)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
