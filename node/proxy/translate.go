package proxy

import (
	"net/netip"
	"sort"
	"time"

	"github.com/skiffnet/skiff/dataplane/services"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Desired turns Services and their EndpointSlices into dataplane services.
// Services without a ClusterIP (headless, ExternalName) are skipped, as are
// protocols the dataplane does not balance (SCTP).
func Desired(svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice) []services.Service {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		k := s.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], s)
	}
	var out []services.Service
	for _, svc := range svcs {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		vip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !vip.Is4() {
			continue // headless ("None") or not yet allocated
		}
		var affinity time.Duration
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = 10800 * time.Second
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		for _, p := range svc.Spec.Ports {
			proto, ok := protoOf(p.Protocol)
			if !ok {
				continue
			}
			out = append(out, services.Service{
				VIP: vip, Port: uint16(p.Port), Protocol: proto, Affinity: affinity,
				Backends: backends(bySvc[svc.Namespace+"/"+svc.Name], p.Name, p.Protocol),
			})
		}
	}
	return out
}

func protoOf(p corev1.Protocol) (services.Proto, bool) {
	switch p {
	case corev1.ProtocolTCP, "":
		return services.TCP, true
	case corev1.ProtocolUDP:
		return services.UDP, true
	}
	return 0, false
}

// backends picks the addresses serving the named port: ready endpoints, or
// when none is ready, serving endpoints that are terminating (so a rolling
// restart of the last pod does not black-hole traffic).
func backends(slices []*discoveryv1.EndpointSlice, portName string, proto corev1.Protocol) []services.Backend {
	var ready, terminating []services.Backend
	seen := map[services.Backend]bool{}
	for _, s := range slices {
		var port int32 = -1
		for _, sp := range s.Ports {
			name, pr := "", corev1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				pr = *sp.Protocol
			}
			if name == portName && pr == protoOrTCP(proto) && sp.Port != nil {
				port = *sp.Port
			}
		}
		if port < 0 || port > 65535 {
			continue
		}
		for _, ep := range s.Endpoints {
			isReady := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ep.Conditions.Serving != nil && *ep.Conditions.Serving
			term := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || !ip.Is4() {
					continue
				}
				b := services.Backend{Addr: ip, Port: uint16(port)}
				if seen[b] {
					continue
				}
				switch {
				case isReady && !term:
					seen[b] = true
					ready = append(ready, b)
				case serving && term:
					seen[b] = true
					terminating = append(terminating, b)
				}
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Addr != out[j].Addr {
			return out[i].Addr.Less(out[j].Addr)
		}
		return out[i].Port < out[j].Port
	})
	return out
}

func protoOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
