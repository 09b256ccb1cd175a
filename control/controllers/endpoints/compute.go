package endpoints

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// MaxEndpointsPerSlice caps the endpoints in one EndpointSlice.
const MaxEndpointsPerSlice = 100

// entry is one pod address for one port set.
type entry struct {
	ip          string
	pod         *v1.Pod
	ready       bool
	serving     bool
	terminating bool
}

// portGroup is every entry that shares one resolved port set.
type portGroup struct {
	key     string
	ports   []v1.EndpointPort
	entries []entry
}

// groupPods resolves each selected pod against the service ports and groups
// the results by port set, in a stable order.
func groupPods(svc *v1.Service, pods []*v1.Pod) []*portGroup {
	groups := map[string]*portGroup{}
	publish := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		ip := podIPv4(pod)
		if ip == "" {
			continue
		}
		ports := resolvePorts(svc, pod)
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // no service port resolves on this pod
		}
		terminating := pod.DeletionTimestamp != nil
		podReady := isPodReady(pod)
		e := entry{
			ip:          ip,
			pod:         pod,
			ready:       publish || (podReady && !terminating),
			serving:     publish || podReady,
			terminating: terminating,
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &portGroup{key: key, ports: ports}
			groups[key] = g
		}
		g.entries = append(g.entries, e)
	}
	out := make([]*portGroup, 0, len(groups))
	for _, g := range groups {
		sort.Slice(g.entries, func(i, j int) bool {
			if g.entries[i].ip != g.entries[j].ip {
				return ipLess(g.entries[i].ip, g.entries[j].ip)
			}
			return g.entries[i].pod.Name < g.entries[j].pod.Name
		})
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func ipLess(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a < b
	}
	return pa.Less(pb)
}

// resolvePorts maps each service port to the pod's port, skipping named
// targetPorts the pod does not expose.
func resolvePorts(svc *v1.Service, pod *v1.Pod) []v1.EndpointPort {
	out := make([]v1.EndpointPort, 0, len(svc.Spec.Ports))
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		proto := sp.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		port, ok := targetPort(sp.TargetPort, sp.Port, proto, pod)
		if !ok {
			continue
		}
		out = append(out, v1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

func targetPort(tp intstr.IntOrString, svcPort int32, proto v1.Protocol, pod *v1.Pod) (int32, bool) {
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		if n, err := strconv.Atoi(tp.StrVal); err == nil && n > 0 {
			return int32(n), true
		}
		for i := range pod.Spec.Containers {
			for _, cp := range pod.Spec.Containers[i].Ports {
				p := cp.Protocol
				if p == "" {
					p = v1.ProtocolTCP
				}
				if cp.Name == tp.StrVal && p == proto {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case tp.Type == intstr.Int && tp.IntVal > 0:
		return tp.IntVal, true
	}
	return svcPort, true
}

func portsKey(ports []v1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		ap := ""
		if p.AppProtocol != nil {
			ap = *p.AppProtocol
		}
		parts[i] = p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + "/" + ap
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func podIPv4(pod *v1.Pod) string {
	for _, pip := range pod.Status.PodIPs {
		if a, err := netip.ParseAddr(pip.IP); err == nil && a.Is4() {
			return a.String()
		}
	}
	if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil && a.Is4() {
		return a.String()
	}
	return ""
}

func isPodReady(pod *v1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// hostnameFor is the DNS hostname a pod gets under a headless service.
func hostnameFor(svc *v1.Service, pod *v1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
		return pod.Spec.Hostname
	}
	return ""
}

// subsetsFor builds Endpoints subsets. Terminating pods are left out unless
// the service publishes not-ready addresses.
func subsetsFor(svc *v1.Service, groups []*portGroup) []v1.EndpointSubset {
	var out []v1.EndpointSubset
	for _, g := range groups {
		var ss v1.EndpointSubset
		for _, e := range g.entries {
			if e.terminating && !svc.Spec.PublishNotReadyAddresses {
				continue
			}
			nodeName := e.pod.Spec.NodeName
			addr := v1.EndpointAddress{
				IP:       e.ip,
				Hostname: hostnameFor(svc, e.pod),
				TargetRef: &v1.ObjectReference{
					Kind: "Pod", Namespace: e.pod.Namespace, Name: e.pod.Name, UID: e.pod.UID,
				},
			}
			if nodeName != "" {
				addr.NodeName = &nodeName
			}
			if e.ready {
				ss.Addresses = append(ss.Addresses, addr)
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
			}
		}
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			continue
		}
		ss.Ports = g.ports
		out = append(out, ss)
	}
	return out
}

// sliceContent is the desired body of one EndpointSlice.
type sliceContent struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

func toSlicePorts(ports []v1.EndpointPort) []discoveryv1.EndpointPort {
	if len(ports) == 0 {
		return nil
	}
	out := make([]discoveryv1.EndpointPort, len(ports))
	for i := range ports {
		p := ports[i]
		out[i] = discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol, AppProtocol: p.AppProtocol}
	}
	return out
}

// slicesFor chunks the groups into slices of at most MaxEndpointsPerSlice.
// zoneOf maps a node name to its zone ("" when unknown).
func slicesFor(svc *v1.Service, groups []*portGroup, zoneOf func(string) string) []sliceContent {
	var out []sliceContent
	for _, g := range groups {
		ports := toSlicePorts(g.ports)
		for start := 0; start < len(g.entries); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(g.entries))
			sc := sliceContent{ports: ports, endpoints: make([]discoveryv1.Endpoint, 0, end-start)}
			for _, e := range g.entries[start:end] {
				ready, serving, terminating := e.ready, e.serving, e.terminating
				ep := discoveryv1.Endpoint{
					Addresses:  []string{e.ip},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
					TargetRef:  &v1.ObjectReference{Kind: "Pod", Namespace: e.pod.Namespace, Name: e.pod.Name, UID: e.pod.UID},
				}
				if h := hostnameFor(svc, e.pod); h != "" {
					ep.Hostname = &h
				}
				if n := e.pod.Spec.NodeName; n != "" {
					ep.NodeName = &n
					if z := zoneOf(n); z != "" {
						ep.Zone = &z
					}
				}
				sc.endpoints = append(sc.endpoints, ep)
			}
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		// Keep one empty slice so readers can tell "no endpoints" from
		// "not processed yet", as upstream does.
		out = append(out, sliceContent{endpoints: []discoveryv1.Endpoint{}})
	}
	return out
}

// mirrorSlices turns user-written Endpoints into slice contents.
func mirrorSlices(ep *v1.Endpoints) []sliceContent {
	var out []sliceContent
	for _, ss := range ep.Subsets {
		ports := toSlicePorts(ss.Ports)
		var eps []discoveryv1.Endpoint
		add := func(addrs []v1.EndpointAddress, ready bool) {
			for _, a := range addrs {
				ip, err := netip.ParseAddr(a.IP)
				if err != nil || !ip.Is4() {
					continue
				}
				r, s, t := ready, ready, false
				e := discoveryv1.Endpoint{
					Addresses:  []string{ip.String()},
					Conditions: discoveryv1.EndpointConditions{Ready: &r, Serving: &s, Terminating: &t},
					NodeName:   a.NodeName,
				}
				if a.Hostname != "" {
					h := a.Hostname
					e.Hostname = &h
				}
				if a.TargetRef != nil {
					ref := *a.TargetRef
					e.TargetRef = &ref
				}
				eps = append(eps, e)
			}
		}
		add(ss.Addresses, true)
		add(ss.NotReadyAddresses, false)
		for start := 0; start < len(eps); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(eps))
			out = append(out, sliceContent{ports: ports, endpoints: eps[start:end]})
		}
	}
	return out
}
