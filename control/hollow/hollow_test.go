package hollow

import (
	"context"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startCluster(t *testing.T, count int, objs ...runtime.Object) (*fake.Clientset, context.Context) {
	cs := fake.NewSimpleClientset(objs...)
	c, err := New(cs, Options{Count: count, HeartbeatInterval: 20 * time.Millisecond, StatusInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cs, ctx
}

func boundPod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "app", Image: "nginx"}},
			InitContainers: []v1.Container{{Name: "setup", Image: "busybox"}}},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
}

func TestNodesRegisterAndHeartbeat(t *testing.T) {
	cs, ctx := startCluster(t, 3)
	eventually(t, "3 ready nodes", func() bool {
		l, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if len(l.Items) != 3 {
			return false
		}
		for _, n := range l.Items {
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == v1.NodeReady && c.Status == v1.ConditionTrue)
			}
			if !ready || n.Status.Allocatable.Cpu().String() != "8" || n.Labels[HollowLabel] != "true" {
				return false
			}
		}
		return true
	})
	l1, err := cs.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "hollow-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := l1.Spec.RenewTime.Time
	eventually(t, "lease renewed", func() bool {
		l, err := cs.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "hollow-node-1", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first)
	})
	// A node marked Unknown (as the lifecycle controller does) comes back.
	n, _ := cs.CoreV1().Nodes().Get(ctx, "hollow-node-0", metav1.GetOptions{})
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == v1.NodeReady {
			n.Status.Conditions[i].Status = v1.ConditionUnknown
		}
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node Ready again", func() bool {
		n, _ := cs.CoreV1().Nodes().Get(ctx, "hollow-node-0", metav1.GetOptions{})
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				return c.Status == v1.ConditionTrue
			}
		}
		return false
	})
}

func TestBoundPodsRunWithIPsFromPodCIDR(t *testing.T) {
	// hollow-node-0 was registered before with a server-assigned pod CIDR.
	pre := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "hollow-node-0", Labels: map[string]string{HollowLabel: "true"}},
		Spec: v1.NodeSpec{PodCIDR: "10.244.7.0/24"}}
	cs, ctx := startCluster(t, 2, pre)
	for _, p := range []*v1.Pod{boundPod("a", "hollow-node-0"), boundPod("b", "hollow-node-0"), boundPod("c", "hollow-node-1"), boundPod("elsewhere", "real-node")} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := func(name string) *v1.Pod {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != v1.PodRunning {
			return nil
		}
		return p
	}
	eventually(t, "pods running", func() bool { return running("a") != nil && running("b") != nil && running("c") != nil })
	cidr0 := netip.MustParsePrefix("10.244.7.0/24")
	ipA, ipB := netip.MustParseAddr(running("a").Status.PodIP), netip.MustParseAddr(running("b").Status.PodIP)
	if !cidr0.Contains(ipA) || !cidr0.Contains(ipB) || ipA == ipB {
		t.Fatalf("pod IPs %s, %s: want two distinct addresses in %s", ipA, ipB, cidr0)
	}
	if ipC := netip.MustParseAddr(running("c").Status.PodIP); !generatedCIDR(1).Contains(ipC) {
		t.Fatalf("pod on node without podCIDR got %s, want inside %s", ipC, generatedCIDR(1))
	}
	a := running("a")
	ready := map[v1.PodConditionType]bool{}
	for _, c := range a.Status.Conditions {
		ready[c.Type] = c.Status == v1.ConditionTrue
	}
	if !ready[v1.PodReady] || !ready[v1.ContainersReady] || !ready[v1.PodInitialized] {
		t.Fatalf("conditions = %+v", a.Status.Conditions)
	}
	if len(a.Status.ContainerStatuses) != 1 || !a.Status.ContainerStatuses[0].Ready || a.Status.ContainerStatuses[0].State.Running == nil ||
		len(a.Status.InitContainerStatuses) != 1 || a.Status.InitContainerStatuses[0].State.Terminated == nil || a.Status.HostIP == "" {
		t.Fatalf("container statuses not filled: %+v", a.Status)
	}
	if p, _ := cs.CoreV1().Pods("default").Get(ctx, "elsewhere", metav1.GetOptions{}); p.Status.Phase != v1.PodPending {
		t.Fatal("pod on a node that is not hollow was touched")
	}

	// Graceful deletion is finished: the pod disappears.
	p := running("a")
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminating pod deleted", func() bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "a", metav1.GetOptions{})
		return err != nil
	})
}

func TestIPAM(t *testing.T) {
	a, err := newIPAM(netip.MustParsePrefix("10.0.0.0/29")) // hosts .2–.6 usable
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for i := range 5 {
		ip, err := a.get(string(rune('a' + i)))
		if err != nil {
			t.Fatal(err)
		}
		if seen[ip] || ip.String() == "10.0.0.1" || ip.String() == "10.0.0.7" {
			t.Fatalf("bad or duplicate IP %s", ip)
		}
		seen[ip] = true
	}
	if _, err := a.get("full"); err == nil {
		t.Fatal("allocation from a full range succeeded")
	}
	a.release("c")
	if ip, err := a.get("new"); err != nil || !seen[ip] {
		t.Fatalf("released IP not reused: %s %v", ip, err)
	}
	if _, err := newIPAM(netip.MustParsePrefix("fd00::/64")); err == nil {
		t.Fatal("IPv6 range accepted")
	}
}
