package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// serviceEnv returns the Kubernetes service variables for pod: for every
// Service with a cluster IP in the pod's namespace (and the "kubernetes"
// Service of the default namespace) <NAME>_SERVICE_HOST, _SERVICE_PORT,
// _SERVICE_PORT_<PORTNAME> and the Docker-link style <NAME>_PORT* set.
// Nothing when spec.enableServiceLinks is false, except the kubernetes one.
func serviceEnv(ctx context.Context, client kubernetes.Interface, pod *v1.Pod) ([][2]string, error) {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	var svcs []v1.Service
	if links {
		l, err := client.CoreV1().Services(pod.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list services for environment: %w", err)
		}
		svcs = l.Items
	}
	if pod.Namespace != metav1.NamespaceDefault || !links {
		if k, err := client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil {
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
