package apiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Two servers on one etcd share the cluster CA and each other's join
// secrets: the first server's admin credentials work on the second, and a
// token made on the first joins a node through the second.
func TestServersSharingEtcd(t *testing.T) {
	a := startTest(t)
	endpoint := a.embedded.ClientURL
	b, err := Start(context.Background(), Options{DataDir: t.TempDir(), BindAddress: "127.0.0.1", SecurePort: 0,
		EtcdEndpoints: []string{endpoint}, ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if !bytes.Equal(a.PKI.CAPEM, b.PKI.CAPEM) {
		t.Fatal("the second server made its own CA")
	}
	cfg := rest.CopyConfig(a.AdminConfig)
	cfg.Host = b.URL
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("server A's admin credentials on server B: %v", err)
	}

	tok, err := JoinToken(a.Server.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := ParseJoinToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	join := func(srv *Running, secret string) int {
		t.Helper()
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n1"}}, k)
		body, _ := json.Marshal(JoinRequest{NodeName: "n1", CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/skiff/v1/join", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		hc, err := rest.HTTPClientFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: srv.PKI.CAPEM}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Server A publishes its secret within seconds of its creation.
	deadline := time.Now().Add(15 * time.Second)
	for join(b, secret) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("a token made on server A does not join through server B")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := join(b, strings.Repeat("x", len(secret))); code != http.StatusUnauthorized {
		t.Fatalf("a wrong secret on server B: %d, want 401", code)
	}

	// A data directory from another cluster is refused, not silently re-keyed.
	if _, err := Start(context.Background(), Options{DataDir: otherClusterDir(t), BindAddress: "127.0.0.1", SecurePort: 0,
		EtcdEndpoints: []string{endpoint}, ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"}); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("a foreign data directory: %v", err)
	}
}

// otherClusterDir is a data directory holding a CA of its own.
func otherClusterDir(t *testing.T) string {
	dir := t.TempDir()
	if _, err := LoadOrCreatePKI(dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}
