package kube

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/dns/records"
)

func ptr[T any](v T) *T { return &v }

// eventually polls cond every 10 ms for up to 1 s: the update bound the
// DNS promises.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not within 1s: %s", what)
}

func answers(ix *records.Index, name string, qtype uint16) (int, []string) {
	r := ix.Resolve(name, qtype)
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.CNAME:
			out = append(out, v.Target)
		}
	}
	return r.Rcode, out
}

func equal(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInformerSourceFollowsChanges drives the source with client-go's fake
// clientset and checks answers follow Service and EndpointSlice changes
// within 1 s.
func TestInformerSourceFollowsChanges(t *testing.T) {
	web := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
	client := fake.NewClientset(web)
	ix := records.New("cluster.local", 5)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(client, 0).Run(ctx, ix) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	eventually(t, "first sync", ix.Synced)
	if rc, got := answers(ix, "web.default.svc.cluster.local.", dns.TypeA); rc != 0 || !equal(got, "10.96.0.20") {
		t.Fatalf("initial list: rcode %d %v", rc, got)
	}

	// New headless service: NXDOMAIN until a ready endpoint appears.
	hl := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone},
	}
	mustDo(t, func() error {
		_, err := client.CoreV1().Services("default").Create(ctx, hl, metav1.CreateOptions{})
		return err
	})
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-x1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("mysql"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr[int32](3306)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.1"}, Hostname: ptr("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.1.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
		},
	}
	mustDo(t, func() error {
		_, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{})
		return err
	})
	eventually(t, "headless endpoint added", func() bool {
		rc, got := answers(ix, "db.default.svc.cluster.local.", dns.TypeA)
		return rc == 0 && equal(got, "10.1.0.1")
	})
	eventually(t, "hostname record", func() bool {
		_, got := answers(ix, "db-0.db.default.svc.cluster.local.", dns.TypeA)
		return equal(got, "10.1.0.1")
	})

	// Second endpoint becomes ready.
	slice.Endpoints[1].Conditions.Ready = ptr(true)
	mustDo(t, func() error {
		_, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{})
		return err
	})
	eventually(t, "endpoint became ready", func() bool {
		_, got := answers(ix, "db.default.svc.cluster.local.", dns.TypeA)
		return equal(got, "10.1.0.2", "10.1.0.1")
	})

	// Service switched to ExternalName.
	web.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
	mustDo(t, func() error {
		_, err := client.CoreV1().Services("default").Update(ctx, web, metav1.UpdateOptions{})
		return err
	})
	eventually(t, "service became ExternalName", func() bool {
		_, got := answers(ix, "web.default.svc.cluster.local.", dns.TypeA)
		return equal(got, "db.example.com.")
	})

	// Deletions.
	mustDo(t, func() error {
		return client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "db-x1", metav1.DeleteOptions{})
	})
	eventually(t, "slice deleted: headless NXDOMAIN", func() bool {
		rc, _ := answers(ix, "db.default.svc.cluster.local.", dns.TypeA)
		return rc == dns.RcodeNameError
	})
	mustDo(t, func() error { return client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}) })
	eventually(t, "service deleted", func() bool {
		rc, _ := answers(ix, "web.default.svc.cluster.local.", dns.TypeA)
		return rc == dns.RcodeNameError
	})
}

func mustDo(t *testing.T, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

func TestConvertSkipsForeignSlices(t *testing.T) {
	if ConvertSlice(&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4}) != nil {
		t.Error("slice without service label converted")
	}
	fq := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeFQDN,
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{discoveryv1.LabelServiceName: "x"}}}
	if ConvertSlice(fq) != nil {
		t.Error("FQDN slice converted")
	}
	s := ConvertService(&corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1",
		Ports: []corev1.ServicePort{{Name: "dns", Port: 53}}}})
	if len(s.ClusterIPs) != 1 || s.Ports[0].Protocol != "TCP" || s.Headless {
		t.Errorf("converted %+v", s)
	}
}
