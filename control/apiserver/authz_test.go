package apiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// clientFor returns a clientset authenticating with a CA-signed certificate.
func clientFor(t *testing.T, run *Running, cn string, groups ...string) *kubernetes.Clientset {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := run.PKI.Sign(pkix.Name{CommonName: cn, Organization: groups}, x509.ExtKeyUsageClientAuth, nil, nil, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cfg := &rest.Config{Host: run.URL, TLSClientConfig: rest.TLSClientConfig{CAData: run.PKI.CAPEM,
		CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestNodeIdentityLimits(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	n1 := clientFor(t, run, "system:node:n1", "system:nodes")
	if _, err := n1.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node registers itself: %v", err)
	}
	if _, err := n1.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node creates another node: %v", err)
	}
	admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
	if _, err := n1.CoreV1().Nodes().Patch(ctx, "n2", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node patches another node: %v", err)
	}
	if _, err := n1.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node lease: %v", err)
	}
	pod := func(name, node string) {
		admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "i"}}}}, metav1.CreateOptions{})
	}
	pod("mine", "n1")
	pod("theirs", "n2")
	st := []byte(`{"status":{"phase":"Running"}}`)
	if _, err := n1.CoreV1().Pods("default").Patch(ctx, "mine", types.MergePatchType, st, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("node updates its pod's status: %v", err)
	}
	if _, err := n1.CoreV1().Pods("default").Patch(ctx, "theirs", types.MergePatchType, st, metav1.PatchOptions{}, "status"); !apierrors.IsForbidden(err) {
		t.Fatalf("node updates another node's pod: %v", err)
	}
	if _, err := n1.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node creates a configmap: %v", err)
	}
	if _, err := n1.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"}); err != nil {
		t.Fatalf("node lists its pods: %v", err)
	}
	sar, err := n1.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes", Name: "n2"}}}, metav1.CreateOptions{})
	if err != nil || sar.Status.Allowed {
		t.Fatalf("can-i for a node: %v %+v", err, sar.Status)
	}
	other := clientFor(t, run, "someone")
	if _, err := other.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unprivileged user: %v", err)
	}
}

func TestNodeJoin(t *testing.T) {
	run := startTest(t)
	tok, err := JoinToken(run.Server.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	caHash, secret, _ := ParseJoinToken(tok)
	// Anonymous: fetch the CA and check it against the token's hash.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Get(run.URL + "/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	blk, _ := pem.Decode(caPEM)
	sum := sha256.Sum256(blk.Bytes)
	if hex.EncodeToString(sum[:]) != caHash {
		t.Fatal("CA from /cacerts does not match the token hash")
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, k)
	body, _ := json.Marshal(JoinRequest{NodeName: "j1", CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))})
	post := func(secret string) *http.Response {
		req, _ := http.NewRequest("POST", run.URL+"/skiff/v1/join", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post("wrong"); resp.StatusCode != 401 {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	resp = post(secret)
	defer resp.Body.Close()
	var jr JoinResponse
	if err := json.NewDecoder(resp.Body).Decode(&jr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("join: %d %v", resp.StatusCode, err)
	}
	cblk, _ := pem.Decode([]byte(jr.Certificate))
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil || cert.Subject.CommonName != "system:node:j1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Fatalf("node cert: %v %+v", err, cert.Subject)
	}
}
