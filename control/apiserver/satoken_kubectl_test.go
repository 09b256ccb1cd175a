package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jwtPayload decodes a token's claims without verifying it.
func jwtPayload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// kubectl create token, then kubectl authenticating with only that token:
// reads in its namespace work, secrets and other namespaces are 403, and
// tampered, expired and orphaned (deleted bound pod) tokens are 401.
func TestKubectlServiceAccountToken(t *testing.T) {
	bins := kubectlBinaries(t)
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	home := t.TempDir()
	caFile := filepath.Join(home, "ca.crt")
	empty := filepath.Join(home, "empty.kubeconfig")
	if err := os.WriteFile(caFile, run.PKI.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mkNS(t, admin, "sat-a")
	mkNS(t, admin, "sat-b")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := admin.CoreV1().Pods("sat-a").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withToken := func(bin, tok string, args ...string) (string, error) {
		t.Helper()
		return kubectl(t, bin, empty, home, "", append([]string{"--server", run.URL, "--certificate-authority", caFile, "--token", tok}, args...)...)
	}
	var tok string
	for name, bin := range bins {
		out, err := kubectl(t, bin, run.Kubeconfig, home, "", "create", "token", "default", "-n", "sat-a", "--duration", "10m")
		if err != nil {
			t.Fatalf("%s create token: %v\n%s", name, err, out)
		}
		tok = strings.TrimSpace(out)
		c := jwtPayload(t, tok)
		if c["sub"] != "system:serviceaccount:sat-a:default" || c["iss"] != Issuer {
			t.Fatalf("%s: claims %v", name, c)
		}
		if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 600 {
			t.Fatalf("%s: --duration 10m gave a lifetime of %v s", name, exp-iat)
		}
		k8s, _ := c["kubernetes.io"].(map[string]any)
		if sa, _ := k8s["serviceaccount"].(map[string]any); k8s["namespace"] != "sat-a" || sa["name"] != "default" || sa["uid"] == "" {
			t.Fatalf("%s: kubernetes.io claim %v", name, k8s)
		}
		if out, err := withToken(bin, tok, "get", "pods", "-n", "sat-a"); err != nil || !strings.Contains(out, "p1") {
			t.Fatalf("%s get pods with the token: %v\n%s", name, err, out)
		}
	}
	bin := bins["kubectl"]
	if out, err := withToken(bin, tok, "get", "secrets", "-n", "sat-a"); err == nil ||
		!strings.Contains(out, `Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:sat-a:default" cannot list resource "secrets" in API group "" in the namespace "sat-a"`) {
		t.Fatalf("get secrets: %v\n%s", err, out)
	}
	if out, err := withToken(bin, tok, "get", "pods", "-n", "sat-b"); err == nil || !strings.Contains(out, "(Forbidden)") {
		t.Fatalf("get pods in another namespace: %v\n%s", err, out)
	}
	if out, err := withToken(bin, tok, "delete", "pod", "p1", "-n", "sat-a"); err == nil || !strings.Contains(out, "(Forbidden)") {
		t.Fatalf("delete with a read-only token: %v\n%s", err, out)
	}
	if out, _ := withToken(bin, tok, "auth", "can-i", "watch", "deployments", "-n", "sat-a"); strings.TrimSpace(out) != "yes" {
		t.Fatalf("can-i watch deployments: %q", out)
	}
	if out, _ := withToken(bin, tok, "auth", "can-i", "get", "secrets", "-n", "sat-a"); !strings.HasPrefix(strings.TrimSpace(out), "no") {
		t.Fatalf("can-i get secrets: %q", out)
	}
	// kubectl auth whoami (SelfSubjectReview, kubectl 1.28+).
	if out, err := withToken(bin, tok, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"); err != nil ||
		!strings.HasPrefix(out, "system:serviceaccount:sat-a:default ") || !strings.Contains(out, "system:serviceaccounts:sat-a") {
		t.Fatalf("auth whoami with the token: %v %q", err, out)
	}
	unauthorized := func(what, tok string) {
		t.Helper()
		if out, err := withToken(bin, tok, "get", "pods", "-n", "sat-a"); err == nil || !strings.Contains(out, "Unauthorized") {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
	}
	parts := strings.Split(tok, ".")
	payload := jwtPayload(t, tok)
	payload["sub"] = "system:serviceaccount:sat-b:default"
	pb, _ := json.Marshal(payload)
	unauthorized("tampered token", parts[0]+"."+base64.RawURLEncoding.EncodeToString(pb)+"."+parts[2])
	unauthorized("garbage token", "not-a-jwt")

	old := time.Now().Add(-3 * time.Hour)
	sa, err := admin.CoreV1().ServiceAccounts("sat-a").Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := run.Server.sa.sign(&saClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: "system:serviceaccount:sat-a:default",
		Audience: jwt.ClaimStrings{APIAudience}, IssuedAt: jwt.NewNumericDate(old), NotBefore: jwt.NewNumericDate(old), ExpiresAt: jwt.NewNumericDate(old.Add(time.Hour))},
		Kubernetes: &k8sClaims{Namespace: "sat-a", ServiceAccount: objRef{Name: "default", UID: string(sa.UID)}}})
	if err != nil {
		t.Fatal(err)
	}
	unauthorized("expired token", expired)

	out, err := kubectl(t, bin, run.Kubeconfig, home, "", "create", "token", "default", "-n", "sat-a", "--bound-object-kind", "Pod", "--bound-object-name", "p1")
	if err != nil {
		t.Fatalf("create a pod-bound token: %v\n%s", err, out)
	}
	bound := strings.TrimSpace(out)
	if out, err := withToken(bin, bound, "get", "pods", "-n", "sat-a"); err != nil {
		t.Fatalf("pod-bound token: %v\n%s", err, out)
	}
	zero := int64(0)
	if err := admin.CoreV1().Pods("sat-a").Delete(ctx, "p1", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(liveTTL) // the lookup cache forgets the pod
	unauthorized("token of a deleted pod", bound)
	if out, err := withToken(bin, tok, "get", "pods", "-n", "sat-a"); err != nil {
		t.Fatalf("the unbound token still works: %v\n%s", err, out)
	}
}
