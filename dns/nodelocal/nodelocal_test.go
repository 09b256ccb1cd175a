package nodelocal

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/dns/kube"
	"github.com/skiffnet/skiff/dns/server"
	"github.com/skiffnet/skiff/internal/nstest"
	"github.com/skiffnet/skiff/node/proxy"
)

var (
	clusterDNS = netip.MustParseAddr("10.96.0.10")
	webIP      = "10.96.1.1"
	fallbackIP = "10.250.0.2"
)

func ptr[T any](v T) *T { return &v }

// cluster is the API state every server in the test watches: the kube-dns
// Service with its one endpoint (the fallback server) and a web Service.
func cluster() (*fake.Clientset, []*corev1.Service, []*discoveryv1.EndpointSlice) {
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"}, Spec: corev1.ServiceSpec{
			ClusterIP: clusterDNS.String(), Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
			ClusterIP: webIP, Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}},
	}
	slices := []*discoveryv1.EndpointSlice{{
		ObjectMeta:  metav1.ObjectMeta{Name: "kube-dns-1", Namespace: "kube-system", Labels: map[string]string{discoveryv1.LabelServiceName: "kube-dns"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fallbackIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("dns"), Port: ptr(int32(53)), Protocol: ptr(corev1.ProtocolUDP)},
			{Name: ptr("dns-tcp"), Port: ptr(int32(53)), Protocol: ptr(corev1.ProtocolTCP)}},
	}}
	c := fake.NewClientset()
	for _, s := range svcs {
		_, _ = c.CoreV1().Services(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
	}
	for _, s := range slices {
		_, _ = c.DiscoveryV1().EndpointSlices(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
	}
	return c, svcs, slices
}

// queries reads skiff_dns_queries_total{proto, type="A"} from reg.
func queries(t *testing.T, reg prometheus.Gatherer, proto string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "skiff_dns_queries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["proto"] == proto && labels["type"] == "A" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dig asks for web's A record through the cluster DNS IP from the pod and
// returns the answer ("" on timeout or error).
func dig(pod *nstest.NS, tcp bool) string {
	args := []string{"dig", "@" + clusterDNS.String(), "web.default.svc.cluster.local", "A", "+short", "+time=1", "+tries=1"}
	if tcp {
		args = append(args, "+tcp")
	}
	out, err := pod.Run(args...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

type topo struct {
	tp        *nstest.Topo
	node, pod *nstest.NS
	dp        *loader.Dataplane
	fbReg     *prometheus.Registry
}

// setup builds pod -> node (balancer on the pod veth and the fallback's
// veth) -> fallback, programs the Services as the agent's proxy would and
// starts the fallback DNS server as the kube-dns endpoint.
func setup(t *testing.T) *topo {
	nstest.RequirePrivileged(t)
	x := &topo{tp: nstest.New(t)}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	x.node, err = x.tp.NS("node")
	must(err)
	x.pod, err = x.tp.NS("pod")
	must(err)
	fb, err := x.tp.NS("fb")
	must(err)
	must(x.tp.Veth(x.pod, "eth0", "10.244.0.2/24", x.node, "skp0", "10.244.0.1/24"))
	must(x.tp.Veth(fb, "eth0", fallbackIP+"/24", x.node, "fb0", "10.250.0.1/24"))
	_, err = x.pod.Run("ip", "route", "add", "default", "via", "10.244.0.1")
	must(err)
	_, err = fb.Run("ip", "route", "add", "default", "via", "10.250.0.1")
	must(err)
	_, err = x.node.Run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
	must(err)

	must(x.node.Do(func() (err error) {
		x.dp, err = loader.Open(loader.Options{Node: x.tp.Prefix, Ifaces: []string{"skp0", "fb0"}})
		return err
	}))
	t.Cleanup(func() { _ = x.dp.Remove() })
	client, svcs, slices := cluster()
	rec, err := services.NewReconciler(x.dp.Maps())
	must(err)
	must(rec.Update(proxy.Desired(svcs, slices)))

	ctx, cancel := context.WithCancel(context.Background())
	x.fbReg = prometheus.NewRegistry()
	var fbSrv *server.Server
	must(fb.Do(func() (err error) {
		fbSrv, err = server.New(server.Config{Listen: fallbackIP + ":53", Upstreams: []string{"127.0.0.1:9"}, Registry: x.fbReg}, kube.New(client, 0))
		return err
	}))
	served := make(chan struct{})
	go func() { defer close(served); _ = fbSrv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-served })
	waitFor(t, "fallback server synced", 5*time.Second, fbSrv.Index().Synced)
	return x
}

// podResolvConf gives the pod namespace the resolv.conf a ClusterFirst pod
// gets (ip netns exec bind-mounts /etc/netns/<ns>/resolv.conf).
func (x *topo) podResolvConf(t *testing.T) {
	t.Helper()
	dir := filepath.Join("/etc/netns", x.pod.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	conf := "nameserver " + clusterDNS.String() + "\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n"
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (x *topo) steering(t *testing.T) lb.DNSSteering {
	t.Helper()
	st, err := x.dp.Maps().ReadDNSSteering()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (x *topo) stat(t *testing.T, name string) uint64 {
	t.Helper()
	s, err := x.dp.Maps().ReadStats()
	if err != nil {
		t.Fatal(err)
	}
	return s[name]
}

// flowsTo counts forward conntrack entries of flows to the cluster DNS IP.
func (x *topo) flowsTo(t *testing.T) int {
	t.Helper()
	recs, err := x.dp.Maps().ListCT()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if !r.Key.Reply && r.Key.Dst == clusterDNS {
			n++
		}
	}
	return n
}

func TestPrivilegedNodeLocalSteeringAndFallback(t *testing.T) {
	x := setup(t)
	client, _, _ := cluster()
	// The default registry, which the agent's /metrics serves: the only
	// Start with it in this test binary (the other runs in a child).
	reg := prometheus.DefaultGatherer
	var nl *NodeLocal
	err := x.node.Do(func() (err error) {
		nl, err = Start(context.Background(), Config{Client: client, ClusterDNSIP: clusterDNS, Node: x.tp.Prefix,
			Upstreams: []string{"127.0.0.1:9"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = nl.Stop()
		}
	})
	waitFor(t, "heartbeat written", 10*time.Second, nl.Steering)
	if st := x.steering(t); !st.Fresh(lb.Monotonic()) || st.ClusterIP != clusterDNS || st.LocalIP != DefaultLocalIP {
		t.Fatalf("steering entry %+v", st)
	}

	// Steered: dig from the pod to 10.96.0.10 is answered by the
	// node-local server over UDP and TCP, with no conntrack entry.
	for _, tcp := range []bool{false, true} {
		if got := dig(x.pod, tcp); got != webIP {
			t.Fatalf("dig (tcp %v) through the node-local server: %q, want %s", tcp, got, webIP)
		}
	}
	if queries(t, reg, "udp") < 1 || queries(t, reg, "tcp") < 1 {
		t.Fatalf("node-local server saw udp %v tcp %v A queries", queries(t, reg, "udp"), queries(t, reg, "tcp"))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"skiff_dns_queries_total", "skiff_dns_responses_total", "skiff_dns_cache_total",
		"skiff_dns_request_duration_seconds", "skiff_dns_nodelocal_steering"} {
		if !have[name] {
			t.Errorf("metric %s not in the default registry", name)
		}
	}
	if n := queries(t, x.fbReg, "udp") + queries(t, x.fbReg, "tcp"); n != 0 {
		t.Fatalf("fallback answered %v queries while steering was on", n)
	}
	if n := x.flowsTo(t); n != 0 {
		t.Fatalf("%d conntrack entries for steered DNS", n)
	}
	if s := x.stat(t, "dns_steered"); s < 2 {
		t.Fatalf("dns_steered %d", s)
	}

	// Stock tools through the pod's resolv.conf (as the kubelet writes
	// it): the search path resolves web, web.default and the full name.
	// getent asks A and AAAA in parallel from one socket, the pattern of
	// Kubernetes issue 56903; with a 1 s timeout and a single attempt any
	// lost packet fails the loop.
	x.podResolvConf(t)
	for _, name := range []string{"web", "web.default", "web.default.svc.cluster.local"} {
		if out := x.pod.MustRun(t, "getent", "ahostsv4", name); !strings.HasPrefix(out, webIP+" ") {
			t.Fatalf("getent ahostsv4 %s: %q", name, out)
		}
	}
	steered := x.stat(t, "dns_steered")
	x.pod.MustRun(t, "sh", "-c", "for i in $(seq 200); do getent ahosts web >/dev/null || { echo lost at $i; exit 1; }; done")
	if n := x.stat(t, "dns_steered") - steered; n < 400 {
		t.Fatalf("200 parallel A+AAAA lookups steered %d packets, want >= 400", n)
	}
	if n := x.flowsTo(t); n != 0 {
		t.Fatalf("%d conntrack entries for steered DNS", n)
	}

	// The interface is repaired when deleted: steering returns.
	x.node.MustRun(t, "ip", "link", "del", DefaultInterface)
	waitFor(t, "interface restored", 5*time.Second, func() bool {
		_, err := x.node.Run("ip", "addr", "show", "dev", DefaultInterface)
		return err == nil && nl.Steering()
	})
	waitFor(t, "answers after repair", 5*time.Second, func() bool { return dig(x.pod, false) == webIP })

	// Graceful stop clears the heartbeat: the very next query goes to the
	// kube-dns Service backend.
	before := queries(t, reg, "udp")
	stopped = true
	if err := nl.Stop(); err != nil {
		t.Fatal(err)
	}
	if st := x.steering(t); st.Heartbeat != 0 {
		t.Fatalf("heartbeat %v after Stop, want 0", st.Heartbeat)
	}
	for _, tcp := range []bool{false, true} {
		if got := dig(x.pod, tcp); got != webIP {
			t.Fatalf("dig (tcp %v) after Stop: %q, want %s from the fallback", tcp, got, webIP)
		}
	}
	if queries(t, x.fbReg, "udp") < 1 || queries(t, x.fbReg, "tcp") < 1 {
		t.Fatal("fallback server did not answer after Stop")
	}
	if queries(t, reg, "udp") != before {
		t.Fatal("stopped node-local server answered")
	}
	if n := x.flowsTo(t); n < 2 {
		t.Fatalf("%d conntrack entries on the Service path, want the UDP and TCP flows", n)
	}
}

// TestPrivilegedNodeLocalAgentKilled runs the node-local server in a child
// process, kills it with SIGKILL and checks that queries are answered by
// the kube-dns Service backend once the heartbeat is older than 3 s.
func TestPrivilegedNodeLocalAgentKilled(t *testing.T) {
	x := setup(t)
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestNodeLocalHelperProcess$")
	cmd.Env = append(os.Environ(), "SKIFF_NODELOCAL_HELPER_NS="+x.node.Name, "SKIFF_NODELOCAL_HELPER_NODE="+x.tp.Prefix)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("helper output:\n%s", out.String())
		}
	})
	waitFor(t, "helper's heartbeat", 15*time.Second, func() bool { return x.steering(t).Fresh(lb.Monotonic()) })
	steered := x.stat(t, "dns_steered")
	if got := dig(x.pod, false); got != webIP {
		t.Fatalf("dig through the helper's node-local server: %q", got)
	}
	if x.stat(t, "dns_steered") == steered || queries(t, x.fbReg, "udp") != 0 {
		t.Fatal("query was not answered by the node-local server")
	}

	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	killed = true
	start := time.Now()
	// Queries in the first 3 s reach the dead address and time out (dig
	// gives up after 1 s); afterwards the Service path answers.
	var got string
	for time.Since(start) < 10*time.Second {
		if got = dig(x.pod, false); got == webIP {
			break
		}
	}
	if got != webIP {
		t.Fatalf("no answer within 10 s of the kill: %q", got)
	}
	took := time.Since(start)
	st := x.steering(t)
	if st.Heartbeat == 0 || st.Fresh(lb.Monotonic()) {
		t.Fatalf("steering entry %+v: want the killed agent's last, stale heartbeat", st)
	}
	if queries(t, x.fbReg, "udp") < 1 || x.stat(t, "dns_fallback_stale") < 1 {
		t.Fatal("the answer after the kill did not come from the kube-dns backend")
	}
	if got := dig(x.pod, true); got != webIP {
		t.Fatalf("TCP query after the kill: %q", got)
	}
	t.Logf("fallback answered %s after SIGKILL", took.Round(100*time.Millisecond))
}

// TestNodeLocalHelperProcess is the agent of TestPrivilegedNodeLocalAgentKilled.
func TestNodeLocalHelperProcess(t *testing.T) {
	ns, node := os.Getenv("SKIFF_NODELOCAL_HELPER_NS"), os.Getenv("SKIFF_NODELOCAL_HELPER_NODE")
	if ns == "" {
		t.Skip("helper process of TestPrivilegedNodeLocalAgentKilled")
	}
	client, _, _ := cluster()
	err := (&nstest.NS{Name: ns}).Do(func() error {
		_, err := Start(context.Background(), Config{Client: client, ClusterDNSIP: clusterDNS, Node: node,
			Upstreams: []string{"127.0.0.1:9"}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

func TestConfigValidation(t *testing.T) {
	client := fake.NewClientset()
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no cluster IP", Config{Client: client}, "cluster DNS IP"},
		{"IPv6 cluster IP", Config{Client: client, ClusterDNSIP: netip.MustParseAddr("fd00::a")}, "cluster DNS IP"},
		{"same addresses", Config{Client: client, ClusterDNSIP: clusterDNS, LocalIP: clusterDNS}, "other than the cluster DNS IP"},
		{"no client", Config{ClusterDNSIP: clusterDNS}, "Kubernetes client"},
		{"long iface", Config{Client: client, ClusterDNSIP: clusterDNS, Interface: "a-very-long-ifname"}, "15 bytes"},
		{"interval", Config{Client: client, ClusterDNSIP: clusterDNS, Interval: 5 * time.Second}, "below the max age"},
	} {
		_, err := Start(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	cfg := Config{Client: client, ClusterDNSIP: clusterDNS, Registry: prometheus.NewRegistry()}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.LocalIP != DefaultLocalIP || cfg.Interface != "skiffdns0" || cfg.Interval != time.Second || cfg.MaxAge != 3*time.Second || cfg.Zone != "cluster.local" {
		t.Fatalf("defaults %+v", cfg)
	}
}
