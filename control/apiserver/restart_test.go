package apiserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func TestRestartKeepsDataAllocationsAndWatchResumes(t *testing.T) {
	dir := t.TempDir()
	opts := Options{DataDir: dir, BindAddress: "127.0.0.1", AdvertiseIP: net.ParseIP("127.0.0.1"), ServiceCIDR: "10.96.0.0/28", ClusterCIDR: "10.244.0.0/16"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	cs := clients(t, run, false)
	mkNS(t, cs, "rs")
	svc, err := cs.CoreV1().Services("rs").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := cs.CoreV1().ConfigMaps("rs").List(ctx, metav1.ListOptions{})
	cs.CoreV1().ConfigMaps("rs").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{})
	caHash := run.PKI.CAHash()
	run.Close()

	run, err = Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if run.PKI.CAHash() != caHash {
		t.Fatal("CA changed across restart")
	}
	cs = clients(t, run, false)
	cs.CoreV1().ConfigMaps("rs").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{})
	// A watch from the pre-restart list revision sees both creates, in order.
	w, err := cs.CoreV1().ConfigMaps("rs").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "after"} {
		ev := <-w.ResultChan()
		if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != want {
			t.Fatalf("resumed watch: %s %v, want ADDED %s", ev.Type, ev.Object, want)
		}
	}
	w.Stop()
	// The /28 has 14 usable addresses, .1 and .10 are reserved and two are
	// taken (kubernetes, a): exactly 11 more fit, none equal to a's.
	for i := 0; i < 11; i++ {
		s, err := cs.CoreV1().Services("rs").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{GenerateName: "f-"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		if s.Spec.ClusterIP == svc.Spec.ClusterIP {
			t.Fatalf("IP %s handed out twice after restart", s.Spec.ClusterIP)
		}
	}
	if _, err := cs.CoreV1().Services("rs").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "full"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err == nil {
		t.Fatal("a full service range still allocated an IP")
	}
	tok, err := JoinToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, secret, err := ParseJoinToken(tok)
	sum := sha256.Sum256(run.PKI.CACert.Raw)
	if err != nil || h != hex.EncodeToString(sum[:]) || len(secret) != 32 {
		t.Fatalf("token %q: %v", tok, err)
	}
	if again, _ := JoinToken(dir); again != tok {
		t.Fatal("token changed between calls")
	}
}

func TestWatchBookmarks(t *testing.T) {
	old := bookmarkInterval
	bookmarkInterval = 200 * time.Millisecond
	defer func() { bookmarkInterval = old }()
	run := startTest(t)
	cs := clients(t, run, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, _ := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	w, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
	var rv string
	for ev := range w.ResultChan() {
		if ev.Type == watch.Added {
			rv = ev.Object.(*corev1.ConfigMap).ResourceVersion
		}
		if ev.Type == watch.Bookmark && rv != "" {
			if b := ev.Object.(*corev1.ConfigMap).ResourceVersion; b != rv {
				t.Fatalf("bookmark rv %s, last event rv %s", b, rv)
			}
			break
		}
	}
	w.Stop()
	// Without allowWatchBookmarks no BOOKMARK is sent.
	w, _ = cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: rv, TimeoutSeconds: ptr64(1)})
	for ev := range w.ResultChan() {
		if ev.Type == watch.Bookmark {
			t.Fatal("bookmark sent without allowWatchBookmarks")
		}
	}
}

func ptr64(n int64) *int64 { return &n }
