package staticpods

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/skiffnet/skiff/control/apiserver"
)

// nodeClient returns a client with the identity system:node:<name>, as
// `skiff agent` gets from joining.
func nodeClient(t *testing.T, run *apiserver.Running, name string) kubernetes.Interface {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := run.PKI.Sign(pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}, x509.ExtKeyUsageClientAuth, nil, nil, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: run.URL, TLSClientConfig: rest.TLSClientConfig{CAData: run.PKI.CAPEM,
		CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestWithAPIServer runs static pods against Skiff's API server with a
// node identity: the node may create its mirror pods, deletions are
// graceful (the pod waits for the kubelet, played here by the test), and a
// file the node authorization refuses is logged.
func TestWithAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run, err := apiserver.Start(ctx, apiserver.Options{DataDir: t.TempDir(), BindAddress: "127.0.0.1", SecurePort: 0,
		AdvertiseIP: net.ParseIP("127.0.0.1"), ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	admin, err := kubernetes.NewForConfig(run.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	node := nodeClient(t, run, "n1")
	n, err := node.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := &logBuf{}
	done := make(chan error, 1)
	rctx, stop := context.WithCancel(ctx)
	go func() {
		done <- Run(rctx, Config{Client: node, NodeName: "n1", Dir: dir,
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Interval: 50 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func() *v1.Pod {
		p, err := admin.CoreV1().Pods("default").Get(ctx, "web-n1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The kubelet's part of a graceful deletion: once the pod has stopped,
	// the node removes it with grace 0.
	finish := func(p *v1.Pod) {
		zero := int64(0)
		err := node.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
			Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			t.Fatalf("node finishes deleting its pod: %v", err)
		}
	}

	write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	var first *v1.Pod
	eventually(t, "mirror pod in the API", func() bool { first = get(); return first != nil })
	if first.Spec.NodeName != "n1" || first.Annotations[AnnotationMirror] == "" || len(first.OwnerReferences) != 1 || first.OwnerReferences[0].UID != n.UID {
		t.Fatalf("mirror pod: nodeName %q annotations %v owners %+v", first.Spec.NodeName, first.Annotations, first.OwnerReferences)
	}

	write("web.yaml", fmt.Sprintf(webYAML, "v2"))
	eventually(t, "graceful deletion of the old pod", func() bool {
		p := get()
		return p != nil && p.UID == first.UID && p.DeletionTimestamp != nil
	})
	time.Sleep(200 * time.Millisecond)
	if p := get(); p == nil || p.UID != first.UID {
		t.Fatalf("old pod replaced before the kubelet finished it: %+v", p)
	}
	finish(first)
	var second *v1.Pod
	eventually(t, "replacement mirror pod", func() bool {
		second = get()
		return second != nil && second.UID != first.UID && second.DeletionTimestamp == nil
	})
	if second.Spec.Containers[0].Image != "testapp:v2" {
		t.Fatalf("replacement image %q", second.Spec.Containers[0].Image)
	}

	// Deleted through the API by someone else: back once gone.
	if err := admin.CoreV1().Pods("default").Delete(ctx, "web-n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	finish(second)
	eventually(t, "mirror pod recreated", func() bool {
		p := get()
		return p != nil && p.UID != second.UID && p.DeletionTimestamp == nil
	})

	// A pod the node may not create (it uses a service account) is logged.
	write("sa.yaml", strings.Replace(strings.Replace(fmt.Sprintf(webYAML, "v1"), "name: web", "name: sa", 1),
		"spec:\n", "spec:\n  serviceAccountName: default\n", 1))
	eventually(t, "refusal logged", func() bool {
		l := logs.String()
		return strings.Contains(l, filepath.Join(dir, "sa.yaml")) && strings.Contains(l, "may not use a service account")
	})

	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	var last *v1.Pod
	eventually(t, "graceful deletion after the file went", func() bool {
		last = get()
		return last != nil && last.DeletionTimestamp != nil
	})
	finish(last)
	time.Sleep(200 * time.Millisecond)
	if p := get(); p != nil {
		t.Fatalf("mirror pod of a removed file came back: %+v", p.ObjectMeta)
	}
}
