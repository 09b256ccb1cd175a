package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiffnet/skiff/control/controllers/rootca"
)

// The rootca controller against a real server: every namespace gets the
// CA that verifies the server as kubernetes.default.svc, and a deleted or
// edited copy comes back.
func TestRootCAPublisher(t *testing.T) {
	run := startTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := clients(t, run, false)
	f := informers.NewSharedInformerFactory(admin, 0)
	c := rootca.New(admin, f, run.PKI.CAPEM)
	f.Start(ctx.Done())
	go c.Run(ctx, 1)
	mkNS(t, admin, "rca")
	cms := admin.CoreV1().ConfigMaps("rca")
	published := func() string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			cm, err := cms.Get(ctx, RootCAConfigMap, metav1.GetOptions{})
			if err == nil && cm.Data["ca.crt"] == string(run.PKI.CAPEM) {
				return cm.Data["ca.crt"]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not published in rca: %v %+v", RootCAConfigMap, err, cm)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(published())) {
		t.Fatal("ca.crt holds no certificate")
	}
	conn, err := tls.Dial("tcp", run.Addr, &tls.Config{RootCAs: pool, ServerName: "kubernetes.default.svc"})
	if err != nil {
		t.Fatalf("the published CA does not verify the server as kubernetes.default.svc: %v", err)
	}
	conn.Close()

	if err := cms.Delete(ctx, RootCAConfigMap, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	published()
	cm, err := cms.Get(ctx, RootCAConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"ca.crt": "nonsense"}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	published()
}

// Creating a namespace creates its default ServiceAccount and the
// kube-root-ca.crt ConfigMap in the same request, with no controller
// running, so a pod created next mounts its kube-api-access volume at once.
func TestNamespaceCreateAddsDefaults(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	mkNS(t, admin, "fresh")
	if _, err := admin.CoreV1().ServiceAccounts("fresh").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("no default ServiceAccount right after the namespace was created: %v", err)
	}
	cm, err := admin.CoreV1().ConfigMaps("fresh").Get(ctx, RootCAConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no %s right after the namespace was created: %v", RootCAConfigMap, err)
	}
	if cm.Data["ca.crt"] != string(run.PKI.CAPEM) {
		t.Fatalf("%s holds %q, not the cluster CA", RootCAConfigMap, cm.Data["ca.crt"])
	}
}
