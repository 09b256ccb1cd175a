package hollow

import (
	"context"
	"fmt"
	"net/netip"
	goruntime "runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LeaseNamespace holds node heartbeat Leases.
const LeaseNamespace = "kube-node-lease"

// HollowLabel marks simulated nodes.
const HollowLabel = "skiff.io/hollow"

// node is one simulated node.
type node struct {
	index int
	name  string
	ip    netip.Addr

	mu    sync.Mutex
	uid   string
	ipam  *ipam
	lease *coordinationv1.Lease
}

func (c *Cluster) desiredNode(n *node) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     goruntime.GOARCH,
				HollowLabel:              "true",
			},
		},
		Status: c.nodeStatus(n, nil),
	}
}

func (c *Cluster) nodeStatus(n *node, cur *v1.NodeStatus) v1.NodeStatus {
	now := metav1.NewTime(c.clock.Now())
	res := v1.ResourceList{
		v1.ResourceCPU:              c.opts.CPU,
		v1.ResourceMemory:           c.opts.Memory,
		v1.ResourcePods:             *resourceInt(c.opts.MaxPods),
		v1.ResourceEphemeralStorage: c.opts.EphemeralStorage,
	}
	conds := []v1.NodeCondition{
		{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "hollow kubelet is posting ready status"},
		{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "hollow kubelet has sufficient memory available"},
		{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "hollow kubelet has no disk pressure"},
		{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "hollow kubelet has sufficient PID available"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		if cur != nil {
			for _, old := range cur.Conditions {
				if old.Type == conds[i].Type && old.Status == conds[i].Status && !old.LastTransitionTime.IsZero() {
					conds[i].LastTransitionTime = old.LastTransitionTime
				}
			}
		}
	}
	return v1.NodeStatus{
		Capacity:    res,
		Allocatable: res,
		Conditions:  conds,
		Phase:       v1.NodeRunning,
		Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: n.ip.String()},
			{Type: v1.NodeHostName, Address: n.name},
		},
		DaemonEndpoints: v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: 10250}},
		NodeInfo: v1.NodeSystemInfo{
			MachineID:               "hollow-" + n.name,
			SystemUUID:              "hollow-" + n.name,
			BootID:                  c.bootID,
			KernelVersion:           "hollow",
			OSImage:                 "Skiff hollow node",
			ContainerRuntimeVersion: "hollow://1",
			KubeletVersion:          c.opts.KubeletVersion,
			KubeProxyVersion:        c.opts.KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            goruntime.GOARCH,
		},
	}
}

// register creates the node, or adopts it when it already exists, and
// writes its status. It picks the pod CIDR (server-assigned or generated).
func (c *Cluster) register(ctx context.Context, n *node) error {
	nodes := c.client.CoreV1().Nodes()
	want := c.desiredNode(n)
	cur, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, err = nodes.Get(ctx, n.name, metav1.GetOptions{})
		if err == nil && cur.Labels[HollowLabel] != "true" {
			return fmt.Errorf("node %s exists and is not a hollow node; pick another --prefix", n.name)
		}
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	cur = cur.DeepCopy()
	cur.Status = c.nodeStatus(n, &cur.Status)
	if cur, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("write status of node %s: %w", n.name, err)
	}
	return c.adoptNode(n, cur)
}

// adoptNode records uid and pod CIDR from the stored node.
func (c *Cluster) adoptNode(n *node, cur *v1.Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.uid = string(cur.UID)
	if cidr := cur.Spec.PodCIDR; cidr != "" && (n.ipam == nil || (n.ipam.prefix.String() != cidr && n.ipam.size() == 0)) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("node %s has an unusable spec.podCIDR %q: %w", n.name, cidr, err)
		}
		a, err := newIPAM(p)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.name, err)
		}
		n.ipam = a
	}
	if n.ipam == nil {
		a, err := newIPAM(generatedCIDR(n.index))
		if err != nil {
			return err
		}
		n.ipam = a
	}
	return nil
}

func (n *node) pool() *ipam {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ipam
}

// renewLease creates or renews the node's Lease.
func (c *Cluster) renewLease(ctx context.Context, n *node) error {
	leases := c.client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(c.clock.Now())
	n.mu.Lock()
	l := n.lease
	uid := n.uid
	n.mu.Unlock()
	if l == nil {
		got, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			dur := int32(c.opts.LeaseDuration / time.Second)
			holder := n.name
			l = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: LeaseNamespace},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
			}
			if uid != "" {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: typesUID(uid)}}
			}
			created, err := leases.Create(ctx, l, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create lease %s/%s (does namespace %s exist?): %w", LeaseNamespace, n.name, LeaseNamespace, err)
			}
			n.mu.Lock()
			n.lease = created
			n.mu.Unlock()
			return nil
		case err != nil:
			return fmt.Errorf("get lease %s/%s: %w", LeaseNamespace, n.name, err)
		}
		l = got
	}
	upd := l.DeepCopy()
	upd.Spec.RenewTime = &now
	out, err := leases.Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		n.mu.Lock()
		n.lease = nil // re-read next time
		n.mu.Unlock()
		return fmt.Errorf("renew lease %s/%s: %w", LeaseNamespace, n.name, err)
	}
	n.mu.Lock()
	n.lease = out
	n.mu.Unlock()
	return nil
}

// updateStatus refreshes the node's conditions (and re-registers a node
// that was deleted).
func (c *Cluster) updateStatus(ctx context.Context, n *node) error {
	nodes := c.client.CoreV1().Nodes()
	cur, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.log.Info("hollow node was deleted; registering it again", "node", n.name)
		n.mu.Lock()
		n.lease = nil
		n.mu.Unlock()
		return c.register(ctx, n)
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", n.name, err)
	}
	if err := c.adoptNode(n, cur); err != nil {
		return err
	}
	upd := cur.DeepCopy()
	upd.Status = c.nodeStatus(n, &cur.Status)
	if _, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of node %s: %w", n.name, err)
	}
	return nil
}

// needsStatus reports whether the stored node shows a non-Ready condition
// (for example set Unknown by the node lifecycle controller).
func needsStatus(cur *v1.Node) bool {
	for _, c := range cur.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status != v1.ConditionTrue
		}
	}
	return true
}

// heartbeat runs the node's Lease and status loops until ctx ends.
func (c *Cluster) heartbeat(ctx context.Context, n *node) {
	lastStatus := c.clock.Now()
	t := c.clock.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := c.renewLease(ctx, n); err != nil && ctx.Err() == nil {
			c.log.Warn("lease renewal failed; retrying next heartbeat", "node", n.name, "err", err)
		}
		stale := false
		if cur, err := c.nodeLister.Get(n.name); err == nil {
			stale = needsStatus(cur)
		}
		if stale || c.clock.Since(lastStatus) >= c.opts.StatusInterval {
			if err := c.updateStatus(ctx, n); err != nil && ctx.Err() == nil {
				c.log.Warn("node status update failed; retrying next heartbeat", "node", n.name, "err", err)
				continue
			}
			lastStatus = c.clock.Now()
		}
	}
}
