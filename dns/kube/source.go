package kube

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffnet/skiff/dns/records"
)

// Source feeds a records.Sink from a Kubernetes API.
type Source struct {
	client kubernetes.Interface
	resync time.Duration
}

// New returns a source over client. resync 0 disables periodic resync.
func New(client kubernetes.Interface, resync time.Duration) *Source {
	return &Source{client: client, resync: resync}
}

// Run implements records.Source.
func (s *Source) Run(ctx context.Context, sink records.Sink) error {
	f := informers.NewSharedInformerFactory(s.client, s.resync)
	svcInf := f.Core().V1().Services().Informer()
	epsInf := f.Discovery().V1().EndpointSlices().Informer()
	if err := svcInf.SetTransform(trim); err != nil {
		return fmt.Errorf("set service transform: %w", err)
	}
	if err := epsInf.SetTransform(trim); err != nil {
		return fmt.Errorf("set endpointslice transform: %w", err)
	}
	_, err := svcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { setService(sink, o) },
		UpdateFunc: func(_, o any) { setService(sink, o) },
		DeleteFunc: func(o any) {
			if svc, ok := unwrap(o).(*corev1.Service); ok {
				sink.DeleteService(svc.Namespace, svc.Name)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch services: %w", err)
	}
	_, err = epsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { setSlice(sink, o) },
		UpdateFunc: func(_, o any) { setSlice(sink, o) },
		DeleteFunc: func(o any) {
			if sl, ok := unwrap(o).(*discoveryv1.EndpointSlice); ok {
				sink.DeleteSlice(sl.Namespace, sl.Name)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.HasSynced, epsInf.HasSynced) {
		return nil // ctx ended before the first sync
	}
	sink.MarkSynced()
	<-ctx.Done()
	return nil
}

func unwrap(o any) any {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return o
}

// trim drops fields DNS never reads, keeping the informer cache small.
func trim(o any) (any, error) {
	switch v := o.(type) {
	case *corev1.Service:
		v.ManagedFields = nil
		v.Annotations = nil
		v.Status = corev1.ServiceStatus{}
	case *discoveryv1.EndpointSlice:
		v.ManagedFields = nil
		v.Annotations = nil
		for i := range v.Endpoints {
			v.Endpoints[i].TargetRef = nil
			v.Endpoints[i].DeprecatedTopology = nil
			v.Endpoints[i].Hints = nil
		}
	}
	return o, nil
}

func setService(sink records.Sink, o any) {
	svc, ok := o.(*corev1.Service)
	if !ok {
		return
	}
	sink.SetService(ConvertService(svc))
}

func setSlice(sink records.Sink, o any) {
	sl, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if r := ConvertSlice(sl); r != nil {
		sink.SetSlice(r)
	}
}

// ConvertService maps a Service to the DNS view of it.
func ConvertService(svc *corev1.Service) *records.Service {
	out := &records.Service{Namespace: svc.Namespace, Name: svc.Name}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		out.ExternalName = svc.Spec.ExternalName
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		out.Headless = true
	default:
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, s := range ips {
			if a, err := netip.ParseAddr(s); err == nil {
				out.ClusterIPs = append(out.ClusterIPs, a.Unmap())
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		out.Ports = append(out.Ports, records.Port{Name: p.Name, Protocol: protocol(p.Protocol), Port: uint16(p.Port)})
	}
	return out
}

// ConvertSlice maps an EndpointSlice to the DNS view of it; nil when the
// slice belongs to no service or carries FQDN addresses.
func ConvertSlice(sl *discoveryv1.EndpointSlice) *records.EndpointSlice {
	svc := sl.Labels[discoveryv1.LabelServiceName]
	if svc == "" || sl.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	out := &records.EndpointSlice{Namespace: sl.Namespace, Name: sl.Name, Service: svc}
	for _, p := range sl.Ports {
		rp := records.Port{Protocol: "TCP"}
		if p.Name != nil {
			rp.Name = *p.Name
		}
		if p.Protocol != nil {
			rp.Protocol = protocol(*p.Protocol)
		}
		if p.Port != nil {
			rp.Port = uint16(*p.Port)
		}
		out.Ports = append(out.Ports, rp)
	}
	for _, ep := range sl.Endpoints {
		re := records.Endpoint{Ready: ep.Conditions.Ready == nil || *ep.Conditions.Ready}
		if ep.Hostname != nil {
			re.Hostname = *ep.Hostname
		}
		for _, s := range ep.Addresses {
			if a, err := netip.ParseAddr(s); err == nil {
				re.Addrs = append(re.Addrs, a.Unmap())
			}
		}
		out.Endpoints = append(out.Endpoints, re)
	}
	return out
}

func protocol(p corev1.Protocol) string {
	if p == "" {
		return "TCP"
	}
	return string(p)
}
