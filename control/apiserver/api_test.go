package apiserver

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func clients(t *testing.T, run *Running, proto bool) *kubernetes.Clientset {
	t.Helper()
	cfg := rest.CopyConfig(run.AdminConfig)
	if proto {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func mkNS(t *testing.T, cs *kubernetes.Clientset, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestClientCRUDConflictPagingAndErrors(t *testing.T) {
	run := startTest(t)
	for _, proto := range []bool{false, true} {
		cs := clients(t, run, proto)
		ctx := context.Background()
		ns := "crud-json"
		if proto {
			ns = "crud-proto"
		}
		mkNS(t, cs, ns)
		cms := cs.CoreV1().ConfigMaps(ns)
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "c-", Labels: map[string]string{"a": "1"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cm.Name, "c-") || cm.UID == "" || cm.CreationTimestamp.IsZero() || cm.ResourceVersion == "" {
			t.Fatalf("metadata not filled: %+v", cm.ObjectMeta)
		}
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm.Name}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("duplicate create: %v", err)
		}
		stale := cm.DeepCopy()
		cm.Data["k"] = "v2"
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale.Data["k"] = "v3"
		if _, err := cms.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("stale update: %v, want 409", err)
		}
		if _, err := cms.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get missing: %v", err)
		}
		for _, n := range []string{"p1", "p2", "p3", "p4", "p5"} {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"page": "yes"}}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		opts := metav1.ListOptions{Limit: 2, LabelSelector: "page=yes"}
		for {
			l, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range l.Items {
				got = append(got, it.Name)
			}
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		if strings.Join(got, ",") != "p1,p2,p3,p4,p5" {
			t.Fatalf("paged list: %v", got)
		}
		l, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name!=p1,metadata.name!=p2", LabelSelector: "page in (yes)"})
		if err != nil || len(l.Items) != 3 {
			t.Fatalf("field selector: %v %d", err, len(l.Items))
		}
		if _, err := cms.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.bogus") {
			t.Fatalf("unknown field selector: %v", err)
		}
		// Merge, JSON and strategic patches.
		if _, err := cms.Patch(ctx, "p1", types.MergePatchType, []byte(`{"metadata":{"labels":{"m":"x"}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Patch(ctx, "p1", types.JSONPatchType, []byte(`[{"op":"add","path":"/data","value":{"j":"y"}}]`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		p1, err := cms.Patch(ctx, "p1", types.StrategicMergePatchType, []byte(`{"data":{"s":"z"}}`), metav1.PatchOptions{})
		if err != nil || p1.Labels["m"] != "x" || p1.Data["j"] != "y" || p1.Data["s"] != "z" {
			t.Fatalf("patches: %v %+v", err, p1)
		}
		if err := cms.Delete(ctx, "p1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "p1", metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("second delete: %v", err)
		}
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "page=yes"}); err != nil {
			t.Fatal(err)
		}
		if l, _ := cms.List(ctx, metav1.ListOptions{LabelSelector: "page=yes"}); len(l.Items) != 0 {
			t.Fatalf("deletecollection left %d", len(l.Items))
		}
		// 413 for a body over 3 MiB.
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"x": strings.Repeat("a", 3<<20)}}, metav1.CreateOptions{})
		if !apierrors.IsRequestEntityTooLargeError(err) {
			t.Fatalf("big body: %v", err)
		}
		// 422 for a bad name.
		_, err = cms.Create(ctx, &corev1.ConfigMap{}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("nameless create: %v", err)
		}
		// Missing namespace: create 404, list 200 empty.
		if _, err := cs.CoreV1().ConfigMaps("ghost").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("create in missing namespace: %v", err)
		}
		if l, err := cs.CoreV1().ConfigMaps("ghost").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
			t.Fatalf("list in missing namespace: %v", err)
		}
	}
}

func TestAnonymousIs401(t *testing.T) {
	run := startTest(t)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(run.URL + "/api/v1/namespaces")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"kind":"Status"`) || !strings.Contains(string(body), `"reason":"Unauthorized"`) {
		t.Fatalf("anonymous: %d %s", resp.StatusCode, body)
	}
	resp, err = c.Get(run.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

func TestWatchResumeAndScale(t *testing.T) {
	run := startTest(t)
	cs := clients(t, run, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mkNS(t, cs, "w1")
	cms := cs.CoreV1().ConfigMaps("w1")
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	l, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A watch from RV 0 starts with synthetic ADDED events.
	w0, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: "0", FieldSelector: "metadata.name=a"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-w0.ResultChan(); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "a" {
		t.Fatalf("synthetic added: %+v", ev)
	}
	w0.Stop()
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
	cms.Patch(ctx, "a", types.MergePatchType, []byte(`{"data":{"x":"1"}}`), metav1.PatchOptions{})
	cms.Delete(ctx, "b", metav1.DeleteOptions{})
	for _, want := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted} {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != want {
				t.Fatalf("got %s want %s", ev.Type, want)
			}
		case <-ctx.Done():
			t.Fatal("timeout waiting for", want)
		}
	}
	w.Stop()
	// Compacted history: the watch ends with a 410 Expired ERROR.
	rev, _ := run.Server.Store.CurrentRevision(ctx)
	if err := run.Server.Store.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	wc, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ev := <-wc.ResultChan()
	if ev.Type != watch.Error || !apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) {
		t.Fatalf("compacted watch: %+v", ev)
	}

	// Deployment scale subresource and generation.
	rep := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DeploymentSpec{Replicas: &rep,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}
	d, err = cs.AppsV1().Deployments("w1").Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation %d", d.Generation)
	}
	sc, err := cs.AppsV1().Deployments("w1").GetScale(ctx, "d", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 1 || sc.Status.Selector != "app=d" {
		t.Fatalf("get scale: %v %+v", err, sc)
	}
	if _, err := cs.AppsV1().Deployments("w1").Patch(ctx, "d", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatal(err)
	}
	d, _ = cs.AppsV1().Deployments("w1").Get(ctx, "d", metav1.GetOptions{})
	if *d.Spec.Replicas != 3 || d.Generation != 2 {
		t.Fatalf("after scale: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	// Status writes through the main resource are ignored.
	d.Status.Replicas = 7
	d, _ = cs.AppsV1().Deployments("w1").Update(ctx, d, metav1.UpdateOptions{})
	if d.Status.Replicas != 0 {
		t.Fatal("main update changed status")
	}
	d.Status.Replicas = 7
	d, err = cs.AppsV1().Deployments("w1").UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 7 || d.Generation != 2 {
		t.Fatalf("status update: %v", err)
	}
}

func TestFinalizersAndPodGrace(t *testing.T) {
	run := startTest(t)
	cs := clients(t, run, false)
	ctx := context.Background()
	mkNS(t, cs, "fin")
	cms := cs.CoreV1().ConfigMaps("fin")
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "f", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	if err := cms.Delete(ctx, "f", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := cms.Get(ctx, "f", metav1.GetOptions{})
	if err != nil || f.DeletionTimestamp == nil {
		t.Fatalf("finalizer did not hold the object: %v", err)
	}
	f.Finalizers = nil
	if _, err := cms.Update(ctx, f, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "f", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("object stayed after its last finalizer: %v", err)
	}
	orphan := metav1.DeletePropagationOrphan
	cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "o"}}, metav1.CreateOptions{})
	cms.Delete(ctx, "o", metav1.DeleteOptions{PropagationPolicy: &orphan})
	if o, err := cms.Get(ctx, "o", metav1.GetOptions{}); err != nil || len(o.Finalizers) != 1 || o.Finalizers[0] != "orphan" {
		t.Fatalf("orphan finalizer: %v", err)
	}
	pods := cs.CoreV1().Pods("fin")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An unscheduled pod goes at once.
	pods.Delete(ctx, "p", metav1.DeleteOptions{})
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unscheduled pod not removed: %v", err)
	}
	pods.Create(ctx, pod, metav1.CreateOptions{})
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n2"}}, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: %v", err)
	}
	pods.Delete(ctx, "p", metav1.DeleteOptions{})
	p, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil || *p.DeletionGracePeriodSeconds != 30 || p.Spec.NodeName != "n1" {
		t.Fatalf("graceful delete: %v %+v", err, p)
	}
	zero := int64(0)
	pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("grace 0 delete: %v", err)
	}
}

func TestAllocators(t *testing.T) {
	run := startTest(t)
	cs := clients(t, run, false)
	ctx := context.Background()
	k, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || k.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes service: %v", err)
	}
	mkNS(t, cs, "alloc")
	svcs := cs.CoreV1().Services("alloc")
	mk := func(name string, typ corev1.ServiceType, ip string, nodePort int32) (*corev1.Service, error) {
		return svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip,
			Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: nodePort}}}}, metav1.CreateOptions{})
	}
	s1, err := mk("s1", corev1.ServiceTypeNodePort, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s1.Spec.ClusterIP == "" || s1.Spec.ClusterIP == "10.96.0.1" || s1.Spec.ClusterIP == "10.96.0.10" || s1.Spec.Ports[0].NodePort < 30000 {
		t.Fatalf("allocation: %s %d", s1.Spec.ClusterIP, s1.Spec.Ports[0].NodePort)
	}
	if _, err := mk("s2", corev1.ServiceTypeClusterIP, s1.Spec.ClusterIP, 0); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Fatalf("duplicate IP: %v", err)
	}
	if _, err := mk("s3", corev1.ServiceTypeNodePort, "", s1.Spec.Ports[0].NodePort); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided port is already allocated") {
		t.Fatalf("duplicate node port: %v", err)
	}
	if _, err := mk("s4", corev1.ServiceTypeNodePort, "", 80); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided port is not in the valid range. The range of valid ports is 30000-32767") {
		t.Fatalf("out of range node port: %v", err)
	}
	// Release on delete: the port and the IP can be taken again.
	if err := svcs.Delete(ctx, "s1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mk("s5", corev1.ServiceTypeNodePort, s1.Spec.ClusterIP, s1.Spec.Ports[0].NodePort); err != nil {
		t.Fatalf("reuse after delete: %v", err)
	}
	// Type change releases the node port.
	s5, _ := svcs.Get(ctx, "s5", metav1.GetOptions{})
	s5.Spec.Type = corev1.ServiceTypeClusterIP
	if s5, err = svcs.Update(ctx, s5, metav1.UpdateOptions{}); err != nil || s5.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("type change: %v", err)
	}
	if _, err := mk("s6", corev1.ServiceTypeNodePort, "", s1.Spec.Ports[0].NodePort); err != nil {
		t.Fatalf("node port not released on type change: %v", err)
	}
	// ClusterIP is immutable.
	s5.Spec.ClusterIP, s5.Spec.ClusterIPs = "10.96.0.77", nil
	if _, err := svcs.Update(ctx, s5, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("clusterIP change: %v", err)
	}
	// Becoming an ExternalName service releases the ClusterIP.
	s6, _ := svcs.Get(ctx, "s6", metav1.GetOptions{})
	ip6 := s6.Spec.ClusterIP
	s6.Spec.Type, s6.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
	if _, err := svcs.Update(ctx, s6, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("to ExternalName: %v", err)
	}
	if _, err := mk("s7", corev1.ServiceTypeClusterIP, ip6, 0); err != nil {
		t.Fatalf("IP not released by ExternalName change: %v", err)
	}
	s6, _ = svcs.Get(ctx, "s6", metav1.GetOptions{})
	s6.Spec.Type, s6.Spec.ExternalName = corev1.ServiceTypeClusterIP, ""
	if s6, err = svcs.Update(ctx, s6, metav1.UpdateOptions{}); err != nil || s6.Spec.ClusterIP == "" || s6.Spec.ClusterIP == ip6 {
		t.Fatalf("from ExternalName back to ClusterIP: %v", err)
	}
	n1, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	n2, err2 := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
	if err != nil || err2 != nil || n1.Spec.PodCIDR == "" || n1.Spec.PodCIDR == n2.Spec.PodCIDR || !strings.HasSuffix(n1.Spec.PodCIDR, "/24") {
		t.Fatalf("pod CIDRs: %v %v %s %s", err, err2, n1.Spec.PodCIDR, n2.Spec.PodCIDR)
	}
}
