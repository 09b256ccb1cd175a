package endpoints

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func svc(name string, sel map[string]string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("svc-" + name), Labels: map[string]string{"app": name}},
		Spec:       v1.ServiceSpec{Selector: sel, Ports: ports, ClusterIP: "10.96.0.20"},
	}
}

type podOpt func(*v1.Pod)

func pod(name, ip string, ready bool, opts ...podOpt) *v1.Pod {
	st := v1.ConditionFalse
	if ready {
		st = v1.ConditionTrue
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: "node-a", Containers: []v1.Container{{Name: "c", Ports: []v1.ContainerPort{
			{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP},
		}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}},
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: st}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func terminating(p *v1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}

func httpPort(n int32) podOpt {
	return func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

var webPort = v1.ServicePort{Name: "web", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("http")}

func cond(b *bool) bool { return b != nil && *b }

func TestConditionsAndNamedPorts(t *testing.T) {
	s := svc("web", map[string]string{"app": "web"}, webPort)
	pods := []*v1.Pod{
		pod("ready", "10.244.0.3", true),
		pod("notready", "10.244.0.2", false),
		pod("term", "10.244.0.4", true, terminating),
		pod("other-port", "10.244.0.5", true, httpPort(9090)),
		pod("no-ip", "", true),
		pod("done", "10.244.0.6", true, func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }),
		pod("unnamed", "10.244.0.7", true, func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].Name = "other" }),
	}
	groups := groupPods(s, pods)
	if len(groups) != 2 {
		t.Fatalf("groups = %d, want 2 (port 8080 and 9090)", len(groups))
	}
	slices := slicesFor(s, groups, func(string) string { return "zone-1" })
	if len(slices) != 2 {
		t.Fatalf("slices = %d, want 2", len(slices))
	}
	byIP := map[string]discoveryv1.Endpoint{}
	ports := map[string]int32{}
	for _, sl := range slices {
		for _, ep := range sl.endpoints {
			byIP[ep.Addresses[0]] = ep
			ports[ep.Addresses[0]] = *sl.ports[0].Port
		}
	}
	tests := []struct {
		ip                          string
		ready, serving, terminating bool
		port                        int32
	}{
		{"10.244.0.3", true, true, false, 8080},
		{"10.244.0.2", false, false, false, 8080},
		{"10.244.0.4", false, true, true, 8080},
		{"10.244.0.5", true, true, false, 9090},
	}
	if len(byIP) != len(tests) {
		t.Fatalf("endpoints = %v, want exactly %d", byIP, len(tests))
	}
	for _, tc := range tests {
		ep, ok := byIP[tc.ip]
		if !ok {
			t.Fatalf("missing endpoint %s", tc.ip)
		}
		c := ep.Conditions
		if cond(c.Ready) != tc.ready || cond(c.Serving) != tc.serving || cond(c.Terminating) != tc.terminating {
			t.Errorf("%s: ready/serving/terminating = %v/%v/%v, want %v/%v/%v", tc.ip,
				cond(c.Ready), cond(c.Serving), cond(c.Terminating), tc.ready, tc.serving, tc.terminating)
		}
		if ports[tc.ip] != tc.port {
			t.Errorf("%s: port %d, want %d", tc.ip, ports[tc.ip], tc.port)
		}
		if ep.NodeName == nil || *ep.NodeName != "node-a" || ep.Zone == nil || *ep.Zone != "zone-1" || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
			t.Errorf("%s: nodeName/zone/targetRef not filled: %+v", tc.ip, ep)
		}
	}
	// Endpoints: terminating pod left out, not-ready in notReadyAddresses.
	subsets := subsetsFor(s, groups)
	var ready, notReady []string
	for _, ss := range subsets {
		for _, a := range ss.Addresses {
			ready = append(ready, a.IP)
		}
		for _, a := range ss.NotReadyAddresses {
			notReady = append(notReady, a.IP)
		}
	}
	sort.Strings(ready)
	if fmt.Sprint(ready) != "[10.244.0.3 10.244.0.5]" || fmt.Sprint(notReady) != "[10.244.0.2]" {
		t.Fatalf("endpoints addresses = %v notReady = %v", ready, notReady)
	}
}

func TestPublishNotReadyAddresses(t *testing.T) {
	s := svc("web", map[string]string{"app": "web"}, webPort)
	s.Spec.PublishNotReadyAddresses = true
	groups := groupPods(s, []*v1.Pod{pod("a", "10.0.0.1", false), pod("b", "10.0.0.2", true, terminating)})
	sl := slicesFor(s, groups, func(string) string { return "" })
	for _, ep := range sl[0].endpoints {
		if !cond(ep.Conditions.Ready) || !cond(ep.Conditions.Serving) {
			t.Fatalf("%v: want ready and serving with publishNotReadyAddresses", ep.Addresses)
		}
	}
	if ss := subsetsFor(s, groups); len(ss) != 1 || len(ss[0].Addresses) != 2 {
		t.Fatalf("subsets = %+v, want both addresses ready", ss)
	}
}

func TestChunksAtMaxPerSlice(t *testing.T) {
	s := svc("web", map[string]string{"app": "web"}, webPort)
	var pods []*v1.Pod
	for i := range 250 {
		pods = append(pods, pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), true))
	}
	sl := slicesFor(s, groupPods(s, pods), func(string) string { return "" })
	if len(sl) != 3 || len(sl[0].endpoints) != 100 || len(sl[2].endpoints) != 50 {
		t.Fatalf("slice sizes wrong: %d slices", len(sl))
	}
}

// --- through the controller with a fake clientset ---

type env struct {
	cs     *fake.Clientset
	cancel context.CancelFunc
}

func start(t *testing.T, objs ...runtime.Object) *env {
	cs := fake.NewSimpleClientset(objs...)
	f := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx, 2); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })
	return &env{cs: cs, cancel: cancel}
}

func (e *env) slices(t *testing.T, svcName string) []discoveryv1.EndpointSlice {
	t.Helper()
	l, err := e.cs.DiscoveryV1().EndpointSlices("ns").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svcName})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

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

func countEndpoints(sl []discoveryv1.EndpointSlice) int {
	n := 0
	for _, s := range sl {
		n += len(s.Endpoints)
	}
	return n
}

func TestControllerWritesEndpointsAndSlices(t *testing.T) {
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{zoneLabel: "z1"}}}
	e := start(t, node, svc("web", map[string]string{"app": "web"}, webPort), pod("a", "10.244.0.2", true))
	eventually(t, "one slice with one endpoint", func() bool {
		sl := e.slices(t, "web")
		return len(sl) == 1 && countEndpoints(sl) == 1
	})
	s := e.slices(t, "web")[0]
	if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.AddressType != discoveryv1.AddressTypeIPv4 ||
		len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Service" || s.OwnerReferences[0].UID != "svc-web" ||
		s.Labels["app"] != "web" || *s.Endpoints[0].Zone != "z1" {
		t.Fatalf("slice metadata wrong: %+v", s)
	}
	eventually(t, "Endpoints object", func() bool {
		ep, err := e.cs.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{})
		return err == nil && len(ep.Subsets) == 1 && ep.Subsets[0].Addresses[0].IP == "10.244.0.2" && ep.Subsets[0].Ports[0].Port == 8080
	})
	// A new pod is added to the existing slice, not a new one.
	if _, err := e.cs.CoreV1().Pods("ns").Create(context.Background(), pod("b", "10.244.0.3", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second endpoint", func() bool {
		sl := e.slices(t, "web")
		return len(sl) == 1 && countEndpoints(sl) == 2 && sl[0].Name == s.Name
	})
	// Deleting the service removes what the controller wrote.
	if err := e.cs.CoreV1().Services("ns").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cleanup", func() bool {
		_, err := e.cs.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{})
		return err != nil && len(e.slices(t, "web")) == 0
	})
}

func TestSelectorlessMirroring(t *testing.T) {
	userEP := &v1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ext"},
		Subsets: []v1.EndpointSubset{{
			Addresses:         []v1.EndpointAddress{{IP: "192.0.2.10"}},
			NotReadyAddresses: []v1.EndpointAddress{{IP: "192.0.2.11"}, {IP: "2001:db8::1"}},
			Ports:             []v1.EndpointPort{{Name: "db", Port: 5432, Protocol: v1.ProtocolTCP}},
		}},
	}
	e := start(t, svc("ext", nil, v1.ServicePort{Name: "db", Port: 5432}), userEP)
	eventually(t, "mirrored slice", func() bool {
		sl := e.slices(t, "ext")
		return len(sl) == 1 && countEndpoints(sl) == 2
	})
	s := e.slices(t, "ext")[0]
	if s.Labels[discoveryv1.LabelManagedBy] != MirrorControllerName || *s.Ports[0].Port != 5432 {
		t.Fatalf("mirrored slice wrong: %+v", s)
	}
	if !cond(s.Endpoints[0].Conditions.Ready) || cond(s.Endpoints[1].Conditions.Ready) {
		t.Fatalf("mirrored readiness wrong: %+v", s.Endpoints)
	}
	// The user's Endpoints are untouched.
	ep, err := e.cs.CoreV1().Endpoints("ns").Get(context.Background(), "ext", metav1.GetOptions{})
	if err != nil || len(ep.Subsets[0].NotReadyAddresses) != 2 || ep.Labels[EndpointsManagedByLabel] != "" {
		t.Fatalf("user endpoints changed: %+v %v", ep, err)
	}
	// Updating them updates the mirror.
	ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses, v1.EndpointAddress{IP: "192.0.2.12"})
	if _, err := e.cs.CoreV1().Endpoints("ns").Update(context.Background(), ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirror follows update", func() bool { return countEndpoints(e.slices(t, "ext")) == 3 })
	if err := e.cs.CoreV1().Endpoints("ns").Delete(context.Background(), "ext", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirror removed", func() bool { return len(e.slices(t, "ext")) == 0 })
}

func TestRelevantChange(t *testing.T) {
	base := pod("a", "10.0.0.1", true)
	noIP := pod("a", "", false)
	tests := []struct {
		name string
		mut  func(p *v1.Pod)
		from *v1.Pod
		want bool
	}{
		{"nothing", func(*v1.Pod) {}, base, false},
		{"status noise", func(p *v1.Pod) { p.Status.Message = "x" }, base, false},
		{"ready flips", func(p *v1.Pod) { p.Status.Conditions[0].Status = v1.ConditionFalse }, base, true},
		{"ip appears", func(p *v1.Pod) { p.Status.PodIP = "10.0.0.9"; p.Status.PodIPs = nil }, noIP, true},
		{"bound without ip", func(p *v1.Pod) { p.Spec.NodeName = "other" }, noIP, false},
		{"labels", func(p *v1.Pod) { p.Labels = map[string]string{"app": "x"} }, noIP, true},
		{"terminating", terminating, base, true},
		{"port", httpPort(1), base, true},
	}
	for _, tc := range tests {
		cur := tc.from.DeepCopy()
		tc.mut(cur)
		if got := relevantChange(tc.from, cur); got != tc.want {
			t.Errorf("%s: relevantChange = %v, want %v", tc.name, got, tc.want)
		}
	}
}
