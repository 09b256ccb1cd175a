package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// rawClient is an admin HTTP client for wire-level checks.
func rawClient(t *testing.T, run *Running) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(run.PKI.CAPEM)
	pair, err := tls.X509KeyPair(run.PKI.AdminCert, run.PKI.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
}

func get(t *testing.T, c *http.Client, url, accept string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func TestDiscoveryTablesAndTableWatch(t *testing.T) {
	run := startTest(t)
	c := rawClient(t, run)
	code, body := get(t, c, run.URL+"/version", "")
	if code != 200 || !strings.Contains(body, `"gitVersion": "v1.33.0+skiff"`) && !strings.Contains(body, `"gitVersion":"v1.33.0+skiff"`) {
		t.Fatalf("/version: %d %s", code, body)
	}
	_, body = get(t, c, run.URL+"/apis/apps/v1", "")
	var rl metav1.APIResourceList
	if err := json.Unmarshal([]byte(body), &rl); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rl.APIResources {
		if r.Name == "deployments/scale" && r.Group == "autoscaling" && r.Version == "v1" && r.Kind == "Scale" {
			found = true
		}
		if r.Name == "deployments" && (len(r.ShortNames) != 1 || r.ShortNames[0] != "deploy" || len(r.Categories) != 1) {
			t.Fatalf("deployments discovery: %+v", r)
		}
	}
	if !found {
		t.Fatalf("no autoscaling/v1 Scale subresource: %s", body)
	}
	code, body = get(t, c, run.URL+"/api/v1/namespaces", tableAccept)
	var tbl metav1.Table
	if err := json.Unmarshal([]byte(body), &tbl); code != 200 || err != nil || tbl.Kind != "Table" || len(tbl.Rows) != 4 || tbl.ResourceVersion == "" {
		t.Fatalf("namespace table: %d %v %s", code, err, body)
	}
	if !strings.Contains(string(tbl.Rows[0].Object.Raw), "PartialObjectMetadata") {
		t.Fatalf("row object is not metadata: %s", tbl.Rows[0].Object.Raw)
	}
	// Table watch: one-row Tables, headers on the first event only.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", run.URL+"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion="+tbl.ResourceVersion, nil)
	req.Header.Set("Accept", tableAccept)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("watch content type %q", ct)
	}
	cs := clients(t, run, false)
	cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, metav1.CreateOptions{})
	cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w2"}}, metav1.CreateOptions{})
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 2; i++ {
		if !sc.Scan() {
			t.Fatalf("watch ended: %v", sc.Err())
		}
		var ev struct {
			Type   string
			Object metav1.Table
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "ADDED" || ev.Object.Kind != "Table" || len(ev.Object.Rows) != 1 || (i == 0) != (len(ev.Object.ColumnDefinitions) > 0) {
			t.Fatalf("table event %d: %s", i, sc.Bytes())
		}
	}
	// Unknown paths and resources are Status 404s.
	code, body = get(t, c, run.URL+"/api/v1/widgets", "")
	if code != 404 || !strings.Contains(body, `"kind":"Status"`) {
		t.Fatalf("unknown resource: %d %s", code, body)
	}
}

func TestWatchSelectorTransitionsAndNamespaceFinalize(t *testing.T) {
	run := startTest(t)
	cs := clients(t, run, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mkNS(t, cs, "sel")
	pods := cs.CoreV1().Pods("sel")
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil {
		t.Fatal(err)
	}
	pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}, metav1.CreateOptions{})
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := <-w.ResultChan()
	if ev.Type != watch.Added || ev.Object.(*corev1.Pod).Spec.NodeName != "n1" {
		t.Fatalf("bind seen by a nodeName watch as %s", ev.Type)
	}
	w.Stop()

	lw, _ := cs.CoreV1().ConfigMaps("sel").Watch(ctx, metav1.ListOptions{LabelSelector: "keep=yes"})
	cs.CoreV1().ConfigMaps("sel").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{"keep": "yes"}}}, metav1.CreateOptions{})
	cs.CoreV1().ConfigMaps("sel").Patch(ctx, "c", types.MergePatchType, []byte(`{"metadata":{"labels":{"keep":"no"}}}`), metav1.PatchOptions{})
	for _, want := range []watch.EventType{watch.Added, watch.Deleted} {
		if ev := <-lw.ResultChan(); ev.Type != want {
			t.Fatalf("label transition: %s, want %s", ev.Type, want)
		}
	}
	lw.Stop()

	// Namespace deletion waits for the spec finalizer, then ends in DELETED.
	nw, _ := cs.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=sel"})
	if err := cs.CoreV1().Namespaces().Delete(ctx, "sel", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "sel", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("terminating namespace: %v %+v", err, ns.Status)
	}
	if _, err := cs.CoreV1().ConfigMaps("sel").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create in terminating namespace: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "sel", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace after finalize: %v", err)
	}
	var last watch.EventType
	for ev := range nw.ResultChan() {
		last = ev.Type
		if last == watch.Deleted {
			break
		}
	}
	if last != watch.Deleted {
		t.Fatalf("namespace watch ended with %s", last)
	}
	nw.Stop()
}
