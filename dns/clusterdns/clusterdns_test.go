package clusterdns

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func TestEnsureServiceAndEndpoints(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	ip := net.ParseIP("10.96.0.10")
	if err := EnsureService(ctx, c, ip); err != nil {
		t.Fatal(err)
	}
	if err := EnsureService(ctx, c, ip); err != nil {
		t.Fatalf("second ensure: %v", err)
	}
	if err := EnsureService(ctx, c, net.ParseIP("10.96.0.11")); err == nil {
		t.Fatal("a kube-dns Service with another IP was accepted")
	}
	a, b := net.ParseIP("192.0.2.1"), net.ParseIP("192.0.2.2")
	for _, x := range []net.IP{a, b, a} {
		if err := setAddress(ctx, c, x, 53, true); err != nil {
			t.Fatal(err)
		}
	}
	ep, _ := c.CoreV1().Endpoints(Namespace).Get(ctx, Name, metav1.GetOptions{})
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 2 || len(ep.Subsets[0].Ports) != 2 {
		t.Fatalf("endpoints after adding a, b, a: %+v", ep.Subsets)
	}
	if err := setAddress(ctx, c, a, 53, false); err != nil {
		t.Fatal(err)
	}
	ep, _ = c.CoreV1().Endpoints(Namespace).Get(ctx, Name, metav1.GetOptions{})
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != b.String() {
		t.Fatalf("endpoints after removing a: %+v", ep.Subsets)
	}
}

func TestRunServesAndWithdraws(t *testing.T) {
	web := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.5.5", Ports: []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP}}}}
	c := fake.NewClientset(web)
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: c, ServiceIP: net.ParseIP("10.96.0.10"), Advertise: net.ParseIP("127.0.0.1"), Port: port, Upstreams: []string{"127.0.0.1:1"}})
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m := new(dns.Msg)
	m.SetQuestion("web.demo.svc.cluster.local.", dns.TypeA)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _, err := new(dns.Client).Exchange(m, addr)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "10.96.5.5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer for web.demo: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		ep, err := c.CoreV1().Endpoints(Namespace).Get(context.Background(), Name, metav1.GetOptions{})
		if err == nil && len(ep.Subsets) == 1 && ep.Subsets[0].Addresses[0].IP == "127.0.0.1" && ep.Subsets[0].Ports[0].Port == int32(port) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint not published: %v %v", ep, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ep, _ := c.CoreV1().Endpoints(Namespace).Get(context.Background(), Name, metav1.GetOptions{})
	if len(ep.Subsets) != 0 {
		t.Fatalf("endpoint not withdrawn on shutdown: %+v", ep.Subsets)
	}
}
