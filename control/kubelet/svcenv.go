package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// serviceEnv returns the Kubernetes service variables for pod: for every
// Service with a cluster IP in the pod's namespace (and the "kubernetes"
// Service of the default namespace) <NAME>_SERVICE_HOST, _SERVICE_PORT,
// _SERVICE_PORT_<PORTNAME> and the Docker-link style <NAME>_PORT* set.
// Nothing when spec.enableServiceLinks is false, except the kubernetes one.
//
// Services come from the informer cache (src.services) once it has synced,
// as the kubelet reads them; from the API before that or without one.
func serviceEnv(ctx context.Context, src envSource, pod *v1.Pod) ([][2]string, error) {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	var svcs []v1.Service
	if links {
		l, err := src.listServices(ctx, pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("list services for environment: %w", err)
		}
		svcs = l
	}
	if pod.Namespace != metav1.NamespaceDefault || !links {
		if k, err := src.getService(ctx, metav1.NamespaceDefault, "kubernetes"); err == nil {
			svcs = append(svcs, *k)
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	var out [][2]string
	for _, s := range svcs {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == v1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		first := s.Spec.Ports[0]
		out = append(out, [2]string{name + "_SERVICE_HOST", ip}, [2]string{name + "_SERVICE_PORT", strconv.Itoa(int(first.Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, [2]string{name + "_SERVICE_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port))})
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, [2]string{name + "_PORT", fmt.Sprintf("%s://%s:%d", proto, ip, first.Port)})
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			pfx := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(pr))
			out = append(out,
				[2]string{pfx, fmt.Sprintf("%s://%s:%d", pr, ip, p.Port)},
				[2]string{pfx + "_PROTO", pr},
				[2]string{pfx + "_PORT", strconv.Itoa(int(p.Port))},
				[2]string{pfx + "_ADDR", ip})
		}
	}
	return out, nil
}

// ServiceCache is a synced view of the cluster's Services, normally the
// agent's shared informer (the service proxy watches the same Services).
type ServiceCache struct {
	Lister corelisters.ServiceLister
	Synced cache.InformerSynced
}

func (src envSource) cached() bool { return src.services != nil && src.services.Synced() }

// listServices lists namespace ns's Services from the cache, or the API.
func (src envSource) listServices(ctx context.Context, ns string) ([]v1.Service, error) {
	if !src.cached() {
		l, err := src.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return l.Items, nil
	}
	l, err := src.services.Lister.Services(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]v1.Service, len(l))
	for i, s := range l {
		out[i] = *s
	}
	return out, nil
}

// getService reads one Service from the cache, or the API.
func (src envSource) getService(ctx context.Context, ns, name string) (*v1.Service, error) {
	if src.cached() {
		return src.services.Lister.Services(ns).Get(name)
	}
	return src.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
}
