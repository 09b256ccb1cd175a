package apiserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Allocators hand out Service ClusterIPs, NodePorts and node PodCIDRs. Each
// allocation is an etcd key under /registry/ranges/ created in a
// transaction, so two servers sharing one etcd never hand out a value twice
// and allocations survive restarts.
type Allocators struct {
	cli          *clientv3.Client
	serviceNet   *net.IPNet
	clusterNet   *net.IPNet
	nodePortBase int
	nodePortSize int
}

// NewAllocators parses the service and cluster CIDRs (IPv4).
func NewAllocators(cli *clientv3.Client, serviceCIDR, clusterCIDR string) (*Allocators, error) {
	_, sn, err := net.ParseCIDR(serviceCIDR)
	if err != nil || sn.IP.To4() == nil {
		return nil, fmt.Errorf("--service-cidr %q is not an IPv4 CIDR such as 10.96.0.0/12", serviceCIDR)
	}
	_, cn, err := net.ParseCIDR(clusterCIDR)
	if err != nil || cn.IP.To4() == nil {
		return nil, fmt.Errorf("--cluster-cidr %q is not an IPv4 CIDR such as 10.244.0.0/16", clusterCIDR)
	}
	if ones, _ := cn.Mask.Size(); ones > 24 {
		return nil, fmt.Errorf("--cluster-cidr %q is smaller than one /24 per node; use a /16", clusterCIDR)
	}
	if ones, _ := sn.Mask.Size(); ones > 28 {
		return nil, fmt.Errorf("--service-cidr %q is too small; use at least a /28", serviceCIDR)
	}
	return &Allocators{cli: cli, serviceNet: sn, clusterNet: cn, nodePortBase: 30000, nodePortSize: 2768}, nil
}

// ServiceIP returns the n-th address of the service range (1 = the
// kubernetes service, 10 = cluster DNS).
func (a *Allocators) ServiceIP(n int) net.IP {
	return addIP(a.serviceNet.IP, uint32(n))
}

func addIP(base net.IP, n uint32) net.IP {
	v := binary.BigEndian.Uint32(base.To4()) + n
	out := make(net.IP, 4)
	binary.BigEndian.PutUint32(out, v)
	return out
}

func rangeSize(n *net.IPNet) uint32 {
	ones, bits := n.Mask.Size()
	return uint32(1) << uint(bits-ones)
}

const (
	ipPrefix   = "/registry/ranges/serviceips/"
	portPrefix = "/registry/ranges/servicenodeports/"
	cidrPrefix = "/registry/ranges/podcidrs/"
)

// claim creates key with owner, or succeeds if owner already holds it.
func (a *Allocators) claim(ctx context.Context, key, owner string) (bool, error) {
	resp, err := a.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return false, err
	}
	if resp.Succeeded {
		return true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	return len(kvs) > 0 && string(kvs[0].Value) == owner, nil
}

// free deletes key if owner holds it.
func (a *Allocators) free(ctx context.Context, key, owner string) {
	a.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(key), "=", owner)).Then(clientv3.OpDelete(key)).Commit()
}

func svcOwner(s *corev1.Service) string { return "service:" + s.Namespace + "/" + s.Name }

func nodeOwner(name string) string { return "node:" + name }

// The allocation keys: allocation, release and repair all name them here.
func ipKey(ip string) string        { return ipPrefix + ip }
func nodePortKey(port int) string   { return portPrefix + strconv.Itoa(port) }
func podCIDRKey(base net.IP) string { return cidrPrefix + base.String() + "-24" }

var svcGK = schema.GroupKind{Kind: "Service"}

func usesNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// allocate reserves what obj needs; old is the stored object on update. It
// returns a function that undoes this call's new reservations.
func (s *Server) allocate(ctx context.Context, obj, old runtime.Object) (func(), error) {
	noop := func() {}
	if s.Alloc == nil {
		return noop, nil
	}
	switch o := obj.(type) {
	case *corev1.Service:
		var prev *corev1.Service
		if old != nil {
			prev = old.(*corev1.Service)
		}
		return s.Alloc.allocateService(ctx, o, prev)
	case *corev1.Node:
		if old != nil {
			p := old.(*corev1.Node)
			if o.Spec.PodCIDR == "" {
				o.Spec.PodCIDR, o.Spec.PodCIDRs = p.Spec.PodCIDR, p.Spec.PodCIDRs
			}
			return noop, nil
		}
		return s.Alloc.allocateNode(ctx, o)
	}
	return noop, nil
}

func (a *Allocators) allocateService(ctx context.Context, svc, old *corev1.Service) (func(), error) {
	owner := svcOwner(svc)
	var undo []string
	release := func() {
		for _, k := range undo {
			a.free(context.Background(), k, owner)
		}
	}
	fail := func(err error) (func(), error) {
		release()
		return func() {}, err
	}
	// ClusterIP.
	if old != nil && old.Spec.Type != corev1.ServiceTypeExternalName {
		if svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		}
		if svc.Spec.ClusterIP != old.Spec.ClusterIP && old.Spec.ClusterIP != "" && old.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type != corev1.ServiceTypeExternalName {
			return fail(apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIP, "may not change once set")}))
		}
	} else if svc.Spec.Type != corev1.ServiceTypeExternalName {
		// New, or leaving ExternalName: allocate.
		ip, err := a.allocateIP(ctx, svc, owner)
		if err != nil {
			return fail(err)
		}
		if ip != "" {
			undo = append(undo, ipKey(ip))
		}
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	// NodePorts.
	if !usesNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
		return release, nil
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		if p.NodePort == 0 && old != nil && usesNodePorts(old.Spec.Type) {
			for _, op := range old.Spec.Ports {
				if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
				}
			}
		}
		if p.NodePort != 0 {
			if int(p.NodePort) < a.nodePortBase || int(p.NodePort) >= a.nodePortBase+a.nodePortSize {
				return fail(apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.nodePortBase, a.nodePortBase+a.nodePortSize-1))}))
			}
			key := nodePortKey(int(p.NodePort))
			ok, err := a.claim(ctx, key, owner)
			if err != nil {
				return fail(apierrors.NewInternalError(err))
			}
			if !ok {
				return fail(apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, p.NodePort, "provided port is already allocated")}))
			}
			undo = append(undo, key)
			continue
		}
		start := rand.IntN(a.nodePortSize)
		got := false
		for j := 0; j < a.nodePortSize; j++ {
			port := a.nodePortBase + (start+j)%a.nodePortSize
			key := nodePortKey(port)
			ok, err := a.claim(ctx, key, owner)
			if err != nil {
				return fail(apierrors.NewInternalError(err))
			}
			if ok && !portUsedElsewhere(svc, i, port) {
				p.NodePort = int32(port)
				undo = append(undo, key)
				got = true
				break
			}
		}
		if !got {
			return fail(apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, p.NodePort, "range is full")}))
		}
	}
	// Keep previously held ports out of undo: only this call's claims count.
	if old != nil {
		held := map[string]bool{}
		for _, op := range old.Spec.Ports {
			if op.NodePort != 0 {
				held[nodePortKey(int(op.NodePort))] = true
			}
		}
		kept := undo[:0]
		for _, k := range undo {
			if !held[k] {
				kept = append(kept, k)
			}
		}
		undo = kept
	}
	return release, nil
}

func portUsedElsewhere(svc *corev1.Service, idx, port int) bool {
	for i, p := range svc.Spec.Ports {
		if i != idx && int(p.NodePort) == port {
			return true
		}
	}
	return false
}

func (a *Allocators) allocateIP(ctx context.Context, svc *corev1.Service, owner string) (string, error) {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	want := svc.Spec.ClusterIP
	if want == "" && len(svc.Spec.ClusterIPs) > 0 {
		want = svc.Spec.ClusterIPs[0]
	}
	if want == corev1.ClusterIPNone {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		return "", nil
	}
	if want != "" {
		ip := net.ParseIP(want)
		if ip == nil || ip.To4() == nil {
			return "", apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, want, "must be a valid IPv4 address")})
		}
		size := rangeSize(a.serviceNet)
		off := binary.BigEndian.Uint32(ip.To4()) - binary.BigEndian.Uint32(a.serviceNet.IP.To4())
		if !a.serviceNet.Contains(ip) || off == 0 || off == size-1 {
			return "", apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, want,
				fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", want, a.serviceNet))})
		}
		ok, err := a.claim(ctx, ipKey(ip.String()), owner)
		if err != nil {
			return "", apierrors.NewInternalError(err)
		}
		if !ok {
			return "", apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, want,
				fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", want))})
		}
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip.String(), []string{ip.String()}
		return ip.String(), nil
	}
	size := rangeSize(a.serviceNet)
	usable := size - 2
	start := rand.Uint32N(usable)
	for j := uint32(0); j < usable; j++ {
		off := 1 + (start+j)%usable
		if off == 1 || off == 10 {
			continue // kept for the kubernetes service and cluster DNS
		}
		ip := addIP(a.serviceNet.IP, off).String()
		ok, err := a.claim(ctx, ipKey(ip), owner)
		if err != nil {
			return "", apierrors.NewInternalError(err)
		}
		if ok {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
			return ip, nil
		}
	}
	return "", apierrors.NewInvalid(svcGK, svc.Name, field.ErrorList{field.Invalid(path, "", "failed to allocate a serviceIP: range is full")})
}

func (a *Allocators) allocateNode(ctx context.Context, n *corev1.Node) (func(), error) {
	if n.Spec.PodCIDR != "" {
		if len(n.Spec.PodCIDRs) == 0 {
			n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
		}
		return func() {}, nil
	}
	owner := nodeOwner(n.Name)
	ones, _ := a.clusterNet.Mask.Size()
	count := uint32(1) << uint(24-ones)
	for i := uint32(0); i < count; i++ {
		ip := addIP(a.clusterNet.IP, i<<8)
		cidr := ip.String() + "/24"
		key := podCIDRKey(ip)
		ok, err := a.claim(ctx, key, owner)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if ok {
			n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
			return func() { a.free(context.Background(), key, owner) }, nil
		}
	}
	return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, n.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "podCIDR"), "", "no /24 left in the cluster CIDR "+a.clusterNet.String())})
}

// release frees everything a deleted object held.
func (s *Server) release(ctx context.Context, obj runtime.Object) {
	if s.Alloc == nil {
		return
	}
	a := s.Alloc
	switch o := obj.(type) {
	case *corev1.Service:
		owner := svcOwner(o)
		if ip := net.ParseIP(o.Spec.ClusterIP); ip != nil {
			a.free(ctx, ipKey(ip.String()), owner)
		}
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				a.free(ctx, nodePortKey(int(p.NodePort)), owner)
			}
		}
	case *corev1.Node:
		if ip, _, err := net.ParseCIDR(o.Spec.PodCIDR); err == nil {
			a.free(ctx, podCIDRKey(ip), nodeOwner(o.Name))
		}
	}
}

// releaseOld frees the NodePorts an updated Service no longer uses.
func (s *Server) releaseOld(ctx context.Context, obj, old runtime.Object) {
	if s.Alloc == nil {
		return
	}
	o, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	prev := old.(*corev1.Service)
	if prev.Spec.ClusterIP != o.Spec.ClusterIP {
		if ip := net.ParseIP(prev.Spec.ClusterIP); ip != nil {
			s.Alloc.free(ctx, ipKey(ip.String()), svcOwner(o))
		}
	}
	now := map[int32]bool{}
	for _, p := range o.Spec.Ports {
		now[p.NodePort] = true
	}
	for _, p := range prev.Spec.Ports {
		if p.NodePort != 0 && !now[p.NodePort] {
			s.Alloc.free(ctx, nodePortKey(int(p.NodePort)), svcOwner(o))
		}
	}
}
