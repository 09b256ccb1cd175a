package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/skiffnet/skiff/dataplane/services"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func svc(name, ip string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.ServiceSpec{
		ClusterIP: ip, Type: corev1.ServiceTypeClusterIP,
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
	}}
	if mod != nil {
		mod(s)
	}
	return s
}

type ep struct {
	ip                        string
	ready, serving, terminate bool
}

func slice(svcName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: svcName + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(port), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{
			Ready: ptr(e.ready), Serving: ptr(e.serving), Terminating: ptr(e.terminate)}})
	}
	return s
}

func addrs(bs []services.Backend) []string {
	var out []string
	for _, b := range bs {
		out = append(out, netip.AddrPortFrom(b.Addr, b.Port).String())
	}
	return out
}

func TestDesired(t *testing.T) {
	svcs := []*corev1.Service{
		svc("web", "10.96.0.20", nil),
		svc("headless", "None", nil),
		svc("ext", "", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }),
		svc("sticky", "10.96.0.21", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(60))}}
		}),
		svc("draining", "10.96.0.22", nil),
		svc("empty", "10.96.0.23", nil),
	}
	slices := []*discoveryv1.EndpointSlice{
		slice("web", 8080, ep{"10.244.0.3", true, true, false}, ep{"10.244.0.2", true, true, false}, ep{"10.244.0.9", false, false, false}),
		slice("sticky", 9000, ep{"10.244.0.4", true, true, false}),
		// Only terminating-but-serving endpoints: they are used.
		slice("draining", 8080, ep{"10.244.0.5", false, true, true}, ep{"10.244.0.6", false, false, true}),
	}
	got := map[string]services.Service{}
	for _, s := range Desired(svcs, slices) {
		got[s.VIP.String()] = s
	}
	if len(got) != 4 {
		t.Fatalf("want web, sticky, draining, empty; got %v", got)
	}
	if a := addrs(got["10.96.0.20"].Backends); len(a) != 2 || a[0] != "10.244.0.2:8080" || a[1] != "10.244.0.3:8080" {
		t.Errorf("web backends = %v, want the two ready ones sorted", a)
	}
	if s := got["10.96.0.21"]; s.Affinity != 60*time.Second || addrs(s.Backends)[0] != "10.244.0.4:9000" {
		t.Errorf("sticky = %+v", s)
	}
	if a := addrs(got["10.96.0.22"].Backends); len(a) != 1 || a[0] != "10.244.0.5:8080" {
		t.Errorf("draining backends = %v, want the serving terminating one", a)
	}
	if s := got["10.96.0.23"]; len(s.Backends) != 0 || s.Port != 80 || s.Protocol != services.TCP {
		t.Errorf("empty service must exist with no backends (the dataplane rejects): %+v", s)
	}
}
