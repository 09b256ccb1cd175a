package join

import (
	"context"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/control/apiserver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func startServer(t *testing.T) (*apiserver.Running, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := apiserver.Start(ctx, apiserver.Options{DataDir: dir, BindAddress: "127.0.0.1", SecurePort: 0, ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	tok, err := apiserver.JoinToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r, tok
}

func TestJoinGivesANodeIdentity(t *testing.T) {
	r, tok := startServer(t)
	dir := t.TempDir()
	kc, err := Join(context.Background(), r.URL, tok, "node-a", dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node identity cannot register its own Node: %v", err)
	}
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}, metav1.CreateOptions{}); err == nil {
		t.Fatal("node-a was allowed to create node-b")
	}
	// A second Join reuses the credentials.
	if again, err := Join(context.Background(), r.URL, tok, "node-a", dir); err != nil || again != kc {
		t.Fatalf("rejoin: %q %v", again, err)
	}
}

func TestJoinRefusesAServerWithAnotherCA(t *testing.T) {
	r, _ := startServer(t)
	_, otherTok := startServer(t) // a token from a different cluster
	_, err := Join(context.Background(), r.URL, otherTok, "node-a", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "does not match the join token") {
		t.Fatalf("want a CA mismatch error, got %v", err)
	}
}

func TestJoinRejectsAWrongSecret(t *testing.T) {
	r, tok := startServer(t)
	bad := tok[:strings.LastIndex(tok, ":")+1] + "not-the-secret"
	_, err := Join(context.Background(), r.URL, bad, "node-a", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("want 401, got %v", err)
	}
}
