package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// shownEndpoints is how many addresses a cell lists before "+ N more...".
const shownEndpoints = 3

func init() {
	register(corev1.Service{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Type", "string", "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName."),
			col("Cluster-IP", "string", "Virtual IP of the service inside the cluster."),
			col("External-IP", "string", "Addresses the service is reachable on from outside the cluster."),
			col("Port(s)", "string", "Ports the service exposes, with node ports."),
			ageColumn,
			wide("Selector", "string", "Pods this service routes to."),
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			s := obj.(*corev1.Service)
			typ := s.Spec.Type
			if typ == "" {
				typ = corev1.ServiceTypeClusterIP
			}
			return []any{s.Name, string(typ), orNone(s.Spec.ClusterIP), externalIPs(s), servicePorts(s.Spec.Ports),
				age(s.CreationTimestamp, now), orNone(labels.FormatLabels(s.Spec.Selector))}, nil
		},
	})
	register(corev1.Endpoints{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Endpoints", "string", "Addresses and ports of the endpoints."),
			ageColumn,
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			e := obj.(*corev1.Endpoints)
			return []any{e.Name, endpointsCell(e.Subsets), age(e.CreationTimestamp, now)}, nil
		},
	})
	register(discoveryv1.EndpointSlice{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("AddressType", "string", "Type of the addresses in this slice: IPv4, IPv6 or FQDN."),
			col("Ports", "string", "Ports of the endpoints in this slice."),
			col("Endpoints", "string", "Addresses of the endpoints in this slice."),
			ageColumn,
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			s := obj.(*discoveryv1.EndpointSlice)
			return []any{s.Name, string(s.AddressType), slicePorts(s.Ports), sliceEndpoints(s.Endpoints),
				age(s.CreationTimestamp, now)}, nil
		},
	})
}

func externalIPs(s *corev1.Service) string {
	ext := strings.Join(s.Spec.ExternalIPs, ",")
	switch s.Spec.Type {
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	case corev1.ServiceTypeLoadBalancer:
		var addrs []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				addrs = append(addrs, in.IP)
			} else if in.Hostname != "" {
				addrs = append(addrs, in.Hostname)
			}
		}
		addrs = append(addrs, s.Spec.ExternalIPs...)
		if len(addrs) == 0 {
			return "<pending>"
		}
		return strings.Join(addrs, ",")
	default:
		return orNone(ext)
	}
}

func servicePorts(ports []corev1.ServicePort) string {
	if len(ports) == 0 {
		return none
	}
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if p.NodePort != 0 {
			out = append(out, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.Port, proto))
		}
	}
	return strings.Join(out, ",")
}

// moreSuffix finishes a truncated list: "a,b,c + 2 more...".
func moreSuffix(shown []string, total int) string {
	s := strings.Join(shown, ",")
	if total > len(shown) {
		s += fmt.Sprintf(" + %d more...", total-len(shown))
	}
	return s
}

func endpointsCell(subsets []corev1.EndpointSubset) string {
	var shown []string
	total := 0
	for _, ss := range subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				total++
				if len(shown) < shownEndpoints {
					shown = append(shown, a.IP)
				}
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				total++
				if len(shown) < shownEndpoints {
					shown = append(shown, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
			}
		}
	}
	if total == 0 {
		return none
	}
	return moreSuffix(shown, total)
}

func slicePorts(ports []discoveryv1.EndpointPort) string {
	if len(ports) == 0 {
		return "<unset>"
	}
	var shown []string
	for _, p := range ports {
		if len(shown) >= shownEndpoints {
			break
		}
		if p.Port == nil {
			shown = append(shown, "<unset>")
		} else {
			shown = append(shown, strconv.Itoa(int(*p.Port)))
		}
	}
	return moreSuffix(shown, len(ports))
}

func sliceEndpoints(eps []discoveryv1.Endpoint) string {
	var shown []string
	total := 0
	for _, e := range eps {
		for _, a := range e.Addresses {
			total++
			if len(shown) < shownEndpoints {
				shown = append(shown, a)
			}
		}
	}
	if total == 0 {
		return "<unset>"
	}
	return moreSuffix(shown, total)
}
