package scheduler

import (
	"sort"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// hostPort is one claimed (protocol, hostIP, port). An empty or 0.0.0.0
// hostIP claims the port on every address.
type hostPort struct {
	protocol v1.Protocol
	ip       string
	port     int32
}

// podInfo is the part of a pod the scheduler needs, computed once.
type podInfo struct {
	key        string
	uid        types.UID
	nodeName   string
	req        resources
	nonzeroCPU int64
	nonzeroMem int64
	ports      []hostPort
	owner      types.UID // controller owner, "" if none
}

func newPodInfo(key string, pod *v1.Pod, nodeName string) *podInfo {
	req, cpu, mem := podRequests(pod)
	pi := &podInfo{key: key, uid: pod.UID, nodeName: nodeName, req: req, nonzeroCPU: cpu, nonzeroMem: mem, ports: podHostPorts(pod)}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		pi.owner = ref.UID
	}
	return pi
}

func podHostPorts(pod *v1.Pod) []hostPort {
	var out []hostPort
	add := func(cs []v1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = v1.ProtocolTCP
				}
				ip := p.HostIP
				if ip == "0.0.0.0" || ip == "::" {
					ip = ""
				}
				out = append(out, hostPort{protocol: proto, ip: ip, port: p.HostPort})
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

// nodeInfo aggregates one node and the pods bound (or assumed) to it.
type nodeInfo struct {
	node        *v1.Node // nil while only pods referring to it are known
	allocatable resources
	requested   resources
	nonzeroCPU  int64
	nonzeroMem  int64
	ports       map[hostPort]int
	pods        map[string]*podInfo
	owners      map[types.UID]int
}

func newNodeInfo() *nodeInfo {
	return &nodeInfo{ports: map[hostPort]int{}, pods: map[string]*podInfo{}, owners: map[types.UID]int{}}
}

func (n *nodeInfo) addPod(p *podInfo) {
	n.pods[p.key] = p
	n.requested.add(&p.req)
	n.nonzeroCPU += p.nonzeroCPU
	n.nonzeroMem += p.nonzeroMem
	for _, hp := range p.ports {
		n.ports[hp]++
	}
	if p.owner != "" {
		n.owners[p.owner]++
	}
}

func (n *nodeInfo) removePod(p *podInfo) {
	delete(n.pods, p.key)
	n.requested.sub(&p.req)
	n.nonzeroCPU -= p.nonzeroCPU
	n.nonzeroMem -= p.nonzeroMem
	for _, hp := range p.ports {
		if n.ports[hp]--; n.ports[hp] <= 0 {
			delete(n.ports, hp)
		}
	}
	if p.owner != "" {
		if n.owners[p.owner]--; n.owners[p.owner] <= 0 {
			delete(n.owners, p.owner)
		}
	}
}

// portConflict reports whether any wanted port collides with a claimed one.
func (n *nodeInfo) portConflict(want []hostPort) bool {
	for _, w := range want {
		for have := range n.ports {
			if have.port == w.port && have.protocol == w.protocol &&
				(have.ip == "" || w.ip == "" || have.ip == w.ip) {
				return true
			}
		}
	}
	return false
}

// cache holds every node and every bound or assumed pod. Pods are assumed on
// their chosen node before the binding is written, so capacity is never
// handed out twice while bindings are in flight.
type cache struct {
	mu    sync.RWMutex
	nodes map[string]*nodeInfo
	names []string // sorted names of nodes whose Node object is known
	pods  map[string]*podInfo
}

func newCache() *cache {
	return &cache{nodes: map[string]*nodeInfo{}, pods: map[string]*podInfo{}}
}

func (c *cache) setNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[node.Name]
	if !ok {
		ni = newNodeInfo()
		c.nodes[node.Name] = ni
	}
	if ni.node == nil {
		i := sort.SearchStrings(c.names, node.Name)
		c.names = append(c.names, "")
		copy(c.names[i+1:], c.names[i:])
		c.names[i] = node.Name
	}
	ni.node = node
	ni.allocatable = fromList(node.Status.Allocatable)
}

func (c *cache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok || ni.node == nil {
		return
	}
	ni.node = nil
	if i := sort.SearchStrings(c.names, name); i < len(c.names) && c.names[i] == name {
		c.names = append(c.names[:i], c.names[i+1:]...)
	}
	if len(ni.pods) == 0 {
		delete(c.nodes, name)
	}
}

// addPod records pod (keyed ns/name) as running on nodeName, replacing any
// earlier record of it.
func (c *cache) addPod(key string, pod *v1.Pod, nodeName string) {
	pi := newPodInfo(key, pod, nodeName)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
	ni, ok := c.nodes[nodeName]
	if !ok {
		ni = newNodeInfo()
		c.nodes[nodeName] = ni
	}
	ni.addPod(pi)
	c.pods[key] = pi
}

// assumeLocked records an already computed podInfo; caller holds mu.
func (c *cache) assumeLocked(pi *podInfo) {
	c.removeLocked(pi.key)
	ni := c.nodes[pi.nodeName]
	if ni == nil {
		ni = newNodeInfo()
		c.nodes[pi.nodeName] = ni
	}
	ni.addPod(pi)
	c.pods[pi.key] = pi
}

func (c *cache) removePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

// forgetAssumed drops pod key only if it is still recorded on nodeName with
// the given uid (a failed binding must not undo a newer record).
func (c *cache) forgetAssumed(key string, uid types.UID, nodeName string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pi, ok := c.pods[key]; ok && pi.uid == uid && pi.nodeName == nodeName {
		c.removeLocked(key)
	}
}

func (c *cache) removeLocked(key string) {
	pi, ok := c.pods[key]
	if !ok {
		return
	}
	delete(c.pods, key)
	if ni := c.nodes[pi.nodeName]; ni != nil {
		ni.removePod(pi)
		if ni.node == nil && len(ni.pods) == 0 {
			delete(c.nodes, pi.nodeName)
		}
	}
}

func (c *cache) has(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.pods[key]
	return ok
}
