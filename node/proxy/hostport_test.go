package proxy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/dataplane/services"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testNodeIP = netip.MustParseAddr("192.168.5.10")

func hpPod(name, ip string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1000, 0))},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

func hp(host, cport int32, proto corev1.Protocol, hostIP string) corev1.ContainerPort {
	return corev1.ContainerPort{HostPort: host, ContainerPort: cport, Protocol: proto, HostIP: hostIP}
}

func entry(vip string, port uint16, proto services.Proto, be string, bport uint16) services.Service {
	return services.Service{VIP: netip.MustParseAddr(vip), Port: port, Protocol: proto,
		Backends: []services.Backend{{Addr: netip.MustParseAddr(be), Port: bport}}}
}

func TestHostPortServices(t *testing.T) {
	sidecar := corev1.ContainerRestartPolicyAlways
	withSidecar := hpPod("side", "10.0.0.7")
	withSidecar.Spec.InitContainers = []corev1.Container{
		{Name: "init", Ports: []corev1.ContainerPort{hp(7000, 70, "", "")}}, // runs to completion first: not published
		{Name: "sidecar", RestartPolicy: &sidecar, Ports: []corev1.ContainerPort{hp(7001, 71, "", "")}},
	}
	mod := func(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod { f(p); return p }
	pods := []*corev1.Pod{
		hpPod("web", "10.0.0.5",
			hp(80, 8080, corev1.ProtocolTCP, ""),
			hp(53, 5353, corev1.ProtocolUDP, "0.0.0.0"),
			hp(8443, 443, "", "10.9.9.9"),                   // explicit host IP
			hp(9000, 9000, corev1.ProtocolSCTP, ""),         // not balanced
			hp(9001, 9001, corev1.ProtocolTCP, "::1"),       // IPv6: skipped
			hp(9002, 9002, corev1.ProtocolTCP, "bad"),       // unparsable: skipped
			hp(9004, 9004, corev1.ProtocolTCP, "127.0.0.1"), // loopback: skipped
			hp(0, 9003, corev1.ProtocolTCP, ""),             // no hostPort
		),
		withSidecar,
		mod(hpPod("other-node", "10.0.0.8", hp(81, 81, "", "")), func(p *corev1.Pod) { p.Spec.NodeName = "n2" }),
		mod(hpPod("pending", "10.0.0.9", hp(82, 82, "", "")), func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
		mod(hpPod("no-ip", "", hp(83, 83, "", "")), func(*corev1.Pod) {}),
		mod(hpPod("hostnet", "192.168.5.10", hp(84, 84, "", "")), func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		mod(hpPod("deleting", "10.0.0.10", hp(85, 85, "", "")), func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}),
	}
	got, conflicts := hostPortServices(pods, "n1", testNodeIP)
	want := []services.Service{
		entry("10.9.9.9", 8443, services.TCP, "10.0.0.5", 443),
		entry("192.168.5.10", 53, services.UDP, "10.0.0.5", 5353),
		entry("192.168.5.10", 80, services.TCP, "10.0.0.5", 8080),
		entry("192.168.5.10", 7001, services.TCP, "10.0.0.7", 71),
	}
	if !reflect.DeepEqual(got, want) || len(conflicts) != 0 {
		t.Fatalf("got %v conflicts %v\nwant %v", got, conflicts, want)
	}
	for _, s := range got {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	// Without a node IP only ports with an explicit host IP are published.
	got, _ = hostPortServices(pods, "n1", netip.Addr{})
	if len(got) != 1 || got[0].VIP != netip.MustParseAddr("10.9.9.9") {
		t.Fatalf("no node IP: got %v", got)
	}
}

func TestHostPortConflicts(t *testing.T) {
	old := hpPod("old", "10.0.0.5", hp(80, 8080, "", ""), hp(80, 8080, "", "192.168.5.10")) // same port twice: no conflict
	young := hpPod("young", "10.0.0.6", hp(80, 9090, "", "0.0.0.0"), hp(81, 81, "", ""))
	young.CreationTimestamp = metav1.NewTime(old.CreationTimestamp.Add(time.Second))
	got, conflicts := hostPortServices([]*corev1.Pod{young, old}, "n1", testNodeIP)
	want := []services.Service{
		entry("192.168.5.10", 80, services.TCP, "10.0.0.5", 8080),
		entry("192.168.5.10", 81, services.TCP, "10.0.0.6", 81),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if len(conflicts) != 1 || !strings.HasPrefix(conflicts[0], "ns/young: 192.168.5.10:80/TCP") {
		t.Fatalf("conflicts %q", conflicts)
	}

	// A Service frontend on the same key keeps it; the list stays valid
	// for the reconciler (no key twice).
	svcs := []services.Service{entry("192.168.5.10", 80, services.TCP, "10.0.0.99", 1)}
	merged, c2 := mergeHostPorts(svcs, got)
	if len(merged) != 2 || merged[0].Backends[0].Port != 1 || merged[1].Port != 81 || len(c2) != 1 {
		t.Fatalf("merged %v conflicts %v", merged, c2)
	}
}

func TestHostPortsChangedIgnoresStatusNoise(t *testing.T) {
	p := &Proxy{cfg: Config{Node: "n1", NodeIP: testNodeIP}}
	a := hpPod("web", "10.0.0.5", hp(80, 8080, "", ""))
	b := a.DeepCopy()
	b.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if p.hostPortsChanged(a, b) {
		t.Fatal("a condition change counted as a hostPort change")
	}
	plain := hpPod("plain", "10.0.0.6")
	if p.hostPortsChanged(nil, plain) || p.hostPortsChanged(plain, nil) {
		t.Fatal("a pod without hostPorts counted as a hostPort change")
	}
	c := b.DeepCopy()
	c.Status.Phase = corev1.PodSucceeded
	if !p.hostPortsChanged(b, c) || !p.hostPortsChanged(nil, a) || !p.hostPortsChanged(a, nil) {
		t.Fatal("a hostPort pod starting, ending or going away was not seen")
	}
}
