package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// tokenClient authenticates with a bearer token only.
func tokenClient(t *testing.T, run *Running, tok string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: run.URL, BearerToken: tok, TLSClientConfig: rest.TLSClientConfig{CAData: run.PKI.CAPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func tokenRequest(exp int64, ref *authenticationv1.BoundObjectReference, auds ...string) *authenticationv1.TokenRequest {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: auds, BoundObjectRef: ref}}
	if exp != 0 {
		tr.Spec.ExpirationSeconds = &exp
	}
	return tr
}

func mkBoundPod(t *testing.T, cs *kubernetes.Clientset, ns, name, node string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenRequestValidationAndAudience(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	mkNS(t, admin, "tr")
	sas := admin.CoreV1().ServiceAccounts("tr")
	if _, err := sas.CreateToken(ctx, "default", tokenRequest(10, nil), metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.expirationSeconds") {
		t.Fatalf("expirationSeconds 10: %v", err)
	}
	if _, err := sas.CreateToken(ctx, "nope", tokenRequest(0, nil), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unknown service account: %v", err)
	}
	out, err := sas.CreateToken(ctx, "default", tokenRequest(0, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Status.ExpirationTimestamp.Sub(out.CreationTimestamp.Time).Seconds(); d != 3600 || out.Name != "default" || out.Namespace != "tr" {
		t.Fatalf("default request: lifetime %v s, %s/%s", d, out.Namespace, out.Name)
	}
	if aud := jwtPayload(t, out.Status.Token)["aud"].([]any); len(aud) != 1 || aud[0] != APIAudience {
		t.Fatalf("default audience: %v", aud)
	}
	if _, err := tokenClient(t, run, out.Status.Token).CoreV1().ConfigMaps("tr").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list configmaps with the token: %v", err)
	}

	// A token for another audience does not authenticate to the API.
	vault, err := sas.CreateToken(ctx, "default", tokenRequest(0, nil, "vault"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenClient(t, run, vault.Status.Token).CoreV1().ConfigMaps("tr").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("token for audience vault: %v", err)
	}

	// Bound objects: wrong uid 409, another account's pod 400, unknown kind 400, missing pod 404.
	p := mkBoundPod(t, admin, "tr", "p", "")
	if _, err := sas.CreateToken(ctx, "default", tokenRequest(0, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: "x"}), metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("wrong pod uid: %v", err)
	}
	if _, err := sas.CreateToken(ctx, "default", tokenRequest(0, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "gone"}), metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("missing pod: %v", err)
	}
	if _, err := sas.CreateToken(ctx, "default", tokenRequest(0, &authenticationv1.BoundObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Name: "p"}), metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("bound to a deployment: %v", err)
	}
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sas.CreateToken(ctx, "other", tokenRequest(0, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p"}), metav1.CreateOptions{}); !apierrors.IsBadRequest(err) {
		t.Fatalf("a token of another account bound to the pod: %v", err)
	}
	bound, err := sas.CreateToken(ctx, "default", tokenRequest(0, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: p.UID}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pc := jwtPayload(t, bound.Status.Token)["kubernetes.io"].(map[string]any)["pod"].(map[string]any); pc["name"] != "p" || pc["uid"] != string(p.UID) {
		t.Fatalf("pod claim: %v", pc)
	}

	// Deleting and recreating the service account invalidates its tokens.
	if err := sas.Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sas.Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run.Server.live = liveCache{}
	if _, err := tokenClient(t, run, out.Status.Token).CoreV1().ConfigMaps("tr").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Fatalf("token of a recreated service account: %v", err)
	}
}

// Kubernetes' NodeRestriction for tokens: a node gets tokens only for
// pods bound to it, bound to the pod; service accounts get none.
func TestNodeTokenRequests(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	mkNS(t, admin, "ntr")
	mine := mkBoundPod(t, admin, "ntr", "mine", "n1")
	mkBoundPod(t, admin, "ntr", "theirs", "n2")
	n1 := clientFor(t, run, "system:node:n1", "system:nodes")
	ref := func(name string) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: name}
	}
	tr, err := n1.CoreV1().ServiceAccounts("ntr").CreateToken(ctx, "default", tokenRequest(3607, ref("mine")), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node token for its own pod: %v", err)
	}
	k := jwtPayload(t, tr.Status.Token)["kubernetes.io"].(map[string]any)
	if k["pod"].(map[string]any)["uid"] != string(mine.UID) {
		t.Fatalf("claims: %v", k)
	}
	if _, err := n1.CoreV1().ServiceAccounts("ntr").CreateToken(ctx, "default", tokenRequest(0, ref("theirs")), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node token for another node's pod: %v", err)
	}
	if _, err := n1.CoreV1().ServiceAccounts("ntr").CreateToken(ctx, "default", tokenRequest(0, nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound node token: %v", err)
	}
	sa := tokenClient(t, run, tr.Status.Token)
	if _, err := sa.CoreV1().ServiceAccounts("ntr").CreateToken(ctx, "default", tokenRequest(0, nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("service account asks for a token: %v", err)
	}
	if _, err := sa.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("service account lists namespaces: %v", err)
	}

	// Discovery lists the subresource as kubectl expects it.
	rl, err := admin.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rl.APIResources {
		if r.Name == "serviceaccounts/token" && r.Group == "authentication.k8s.io" && r.Kind == "TokenRequest" && len(r.Verbs) == 1 && r.Verbs[0] == "create" {
			found = true
		}
	}
	if !found {
		t.Fatalf("discovery lacks serviceaccounts/token: %+v", rl.APIResources)
	}
	// A client certificate still wins over a bearer header; no credential is 401.
	hc, _ := rest.HTTPClientFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: run.PKI.CAPEM}})
	resp, err := hc.Get(run.URL + "/api/v1/namespaces/ntr/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", resp.StatusCode)
	}
	cfg := rest.CopyConfig(run.AdminConfig)
	cfg.BearerToken = "not-a-token"
	both, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.CoreV1().Secrets("ntr").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("admin certificate with a bad bearer header: %v", err)
	}
}

// Servers sharing one etcd share the signing key: a token from one works
// on the other.
func TestServersShareSigningKey(t *testing.T) {
	a := startTest(t)
	b, err := Start(context.Background(), Options{DataDir: t.TempDir(), BindAddress: "127.0.0.1", SecurePort: 0,
		EtcdEndpoints: []string{a.embedded.ClientURL}, ServiceCIDR: "10.96.0.0/12", ClusterCIDR: "10.244.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if a.Server.sa.kid != b.Server.sa.kid {
		t.Fatal("the second server made its own signing key")
	}
	tr, err := clients(t, a, false).CoreV1().ServiceAccounts("default").CreateToken(context.Background(), "default", tokenRequest(0, nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenClient(t, b, tr.Status.Token).CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{}); err != nil {
		t.Fatalf("server A's token on server B: %v", err)
	}
}
