package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeInfo describes the node the agent registers.
type NodeInfo struct {
	Name    string
	IP      string // InternalIP
	PodCIDR string // empty keeps what the Node object has
	Labels  map[string]string
	DataDir string // its file system is reported as ephemeral-storage
	MaxPods int    // default 110
	// KubeletPort is published as status.daemonEndpoints.kubeletEndpoint
	// (the kubelet API the API server proxies logs and exec to); 0 leaves
	// it unset.
	KubeletPort int
}

// MachineCapacity reads cpu, memory, ephemeral storage and pods for the node.
func MachineCapacity(dataDir string, maxPods int) (v1.ResourceList, error) {
	if maxPods <= 0 {
		maxPods = 110
	}
	mem, err := memTotal()
	if err != nil {
		return nil, err
	}
	rl := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
		v1.ResourcePods:   *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
	}
	if dataDir != "" {
		var st unix.Statfs_t
		if err := unix.Statfs(dataDir, &st); err == nil {
			rl[v1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
		}
	}
	return rl, nil
}

func memTotal() (int64, error) {
	kb, err := meminfoKB("MemTotal")
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	return kb << 10, nil
}

// RegisterNode creates or updates the Node object: labels, podCIDR,
// addresses, capacity/allocatable and a Ready condition. It returns the
// Node as stored (callers read spec.podCIDR from it).
func RegisterNode(ctx context.Context, client kubernetes.Interface, info NodeInfo) (*v1.Node, error) {
	capacity, err := MachineCapacity(info.DataDir, info.MaxPods)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	nodes := client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, info.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node = &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: info.Name}}
		node.Labels = map[string]string{}
		for k, v := range info.Labels {
			node.Labels[k] = v
		}
		node.Labels["kubernetes.io/hostname"] = info.Name
		node.Labels["kubernetes.io/os"] = runtime.GOOS
		node.Labels["kubernetes.io/arch"] = runtime.GOARCH
		if info.PodCIDR != "" {
			node.Spec.PodCIDR, node.Spec.PodCIDRs = info.PodCIDR, []string{info.PodCIDR}
		}
		if node, err = nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("register node %s: %w", info.Name, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("get node %s: %w (check --kubeconfig and that the server runs)", info.Name, err)
	} else if info.PodCIDR != "" && node.Spec.PodCIDR != info.PodCIDR {
		if node.Spec.PodCIDR != "" {
			return nil, fmt.Errorf("node %s already has podCIDR %s, not %s; drop --pod-cidr or delete the Node", info.Name, node.Spec.PodCIDR, info.PodCIDR)
		}
		node.Spec.PodCIDR, node.Spec.PodCIDRs = info.PodCIDR, []string{info.PodCIDR}
		if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("set podCIDR of node %s: %w", info.Name, err)
		}
	}
	node.Status.Capacity = capacity
	node.Status.Allocatable = capacity.DeepCopy()
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeHostName, Address: hostname}}
	if info.IP != "" {
		node.Status.Addresses = append([]v1.NodeAddress{{Type: v1.NodeInternalIP, Address: info.IP}}, node.Status.Addresses...)
	}
	node.Status.NodeInfo = systemInfo()
	if info.KubeletPort > 0 {
		node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(info.KubeletPort)
	}
	setConditions(node, time.Now(), readNode(info.DataDir))
	if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("update status of node %s: %w", info.Name, err)
	}
	return node, nil
}

// Heartbeat renews the node's Lease in kube-node-lease every interval and
// refreshes the node's conditions (Ready, and memory, disk (of dataDir's
// file system) and PID pressure) every 4 intervals, until ctx ends.
func Heartbeat(ctx context.Context, client kubernetes.Interface, nodeName, dataDir string, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	for i := 0; ; i++ {
		if err := renewLease(ctx, client, nodeName, interval); err != nil && ctx.Err() == nil {
			log.Warn("renew node lease; retrying", "err", err)
		}
		if i%4 == 3 {
			if err := refreshConditions(ctx, client, nodeName, dataDir); err != nil && ctx.Err() == nil {
				log.Warn("refresh node status; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func renewLease(ctx context.Context, client kubernetes.Interface, nodeName string, interval time.Duration) error {
	leases := client.CoordinationV1().Leases(v1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(4 * interval / time.Second)
	if secs < 1 {
		secs = 1
	}
	lease, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: nodeName, Namespace: v1.NamespaceNodeLease},
			Spec:       coordv1.LeaseSpec{HolderIdentity: &nodeName, LeaseDurationSeconds: &secs, RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &nodeName, &secs, &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

func refreshConditions(ctx context.Context, client kubernetes.Interface, nodeName, dataDir string) error {
	node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	setConditions(node, time.Now(), readNode(dataDir))
	_, err = client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}
