package staticpods

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var podsGVR = v1.SchemeGroupVersion.WithResource("pods")

// logBuf collects log output across goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newClient is a fake API with Node n1 (uid uid-n1) that gives created pods
// fresh UIDs, as the API server does.
func newClient(objs ...runtime.Object) *fake.Clientset {
	objs = append(objs, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-n1"}})
	c := fake.NewClientset(objs...)
	var n atomic.Int64
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*v1.Pod); ok && p.UID == "" {
			p.UID = types.UID(fmt.Sprintf("pod-uid-%d", n.Add(1)))
		}
		return false, nil, nil
	})
	return c
}

type runner struct {
	t      *testing.T
	client *fake.Clientset
	dir    string
	logs   *logBuf
	cancel context.CancelFunc
	done   chan error
}

// start runs Run for node n1 on dir (the Node's UID is read from the API).
func start(t *testing.T, client *fake.Clientset, dir string) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{t: t, client: client, dir: dir, logs: &logBuf{}, cancel: cancel, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		r.done <- Run(ctx, Config{Client: client, NodeName: "n1", Dir: dir, Logger: log, Interval: 30 * time.Millisecond})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *runner) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Error("Run did not return after its context ended")
	}
}

func (r *runner) write(name, content string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *runner) pod(ns, name string) *v1.Pod {
	p, err := r.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const webYAML = `# a static web server
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: testapp:%s
`

func TestAddChangeRemove(t *testing.T) {
	r := start(t, newClient(), t.TempDir())
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	var first *v1.Pod
	eventually(t, "mirror pod web-n1", func() bool { first = r.pod("default", "web-n1"); return first != nil })
	if first.Spec.NodeName != "n1" || first.Spec.Containers[0].Image != "testapp:v1" || first.Labels["app"] != "web" {
		t.Fatalf("mirror pod spec: nodeName %q image %q labels %v", first.Spec.NodeName, first.Spec.Containers[0].Image, first.Labels)
	}
	a := first.Annotations
	if a[AnnotationSource] != "file" || a[AnnotationHash] == "" || a[AnnotationMirror] != a[AnnotationHash] {
		t.Fatalf("annotations: %v", a)
	}
	if len(first.OwnerReferences) != 1 {
		t.Fatalf("owner references: %+v", first.OwnerReferences)
	}
	o := first.OwnerReferences[0]
	if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != "n1" || o.UID != "uid-n1" || o.Controller == nil || *o.Controller {
		t.Fatalf("owner reference: %+v", o)
	}
	tolerates := false
	for _, tol := range first.Spec.Tolerations {
		tolerates = tolerates || (tol.Operator == v1.TolerationOpExists && tol.Effect == v1.TaintEffectNoExecute && tol.Key == "")
	}
	if !tolerates {
		t.Fatalf("no NoExecute toleration: %+v", first.Spec.Tolerations)
	}

	// Only whitespace and a comment change: same pod, nothing replaced.
	r.write("web.yaml", "# edited\n"+fmt.Sprintf(webYAML, "v1")+"\n\n")
	time.Sleep(200 * time.Millisecond)
	if p := r.pod("default", "web-n1"); p == nil || p.UID != first.UID {
		t.Fatalf("a comment change replaced the pod: %v", p)
	}

	r.write("web.yaml", fmt.Sprintf(webYAML, "v2"))
	var second *v1.Pod
	eventually(t, "replaced mirror pod", func() bool {
		second = r.pod("default", "web-n1")
		return second != nil && second.UID != first.UID
	})
	if second.Spec.Containers[0].Image != "testapp:v2" || second.Annotations[AnnotationHash] == a[AnnotationHash] ||
		second.Annotations[AnnotationMirror] != second.Annotations[AnnotationHash] {
		t.Fatalf("replacement: image %q annotations %v", second.Spec.Containers[0].Image, second.Annotations)
	}

	if err := os.Remove(filepath.Join(r.dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirror pod deleted", func() bool { return r.pod("default", "web-n1") == nil })
}

func TestJSONAndNamespace(t *testing.T) {
	client := newClient()
	r := start(t, client, t.TempDir())
	r.write("db.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db","namespace":"kube-system"},
		"spec":{"containers":[{"name":"c","image":"db"}]}}`)
	eventually(t, "mirror pod kube-system/db-n1", func() bool { return r.pod("kube-system", "db-n1") != nil })
}

func TestRecreatedAfterAPIDelete(t *testing.T) {
	r := start(t, newClient(), t.TempDir())
	r.write("web.yml", fmt.Sprintf(webYAML, "v1"))
	var first *v1.Pod
	eventually(t, "mirror pod", func() bool { first = r.pod("default", "web-n1"); return first != nil })
	if err := r.client.CoreV1().Pods("default").Delete(context.Background(), "web-n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirror pod recreated", func() bool {
		p := r.pod("default", "web-n1")
		return p != nil && p.UID != first.UID
	})
}

// TestGracefulReplace: with a real API server a deleted pod lingers with a
// deletionTimestamp until the kubelet has stopped it; the new mirror pod
// must wait for it to be gone.
func TestGracefulReplace(t *testing.T) {
	client := newClient()
	var deletes atomic.Int64
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteAction)
		if da.GetDeleteOptions().GracePeriodSeconds != nil {
			return true, nil, fmt.Errorf("delete with an explicit grace period %d", *da.GetDeleteOptions().GracePeriodSeconds)
		}
		deletes.Add(1)
		obj, err := client.Tracker().Get(podsGVR, da.GetNamespace(), da.GetName())
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.DeletionTimestamp == nil {
			now := metav1.Now()
			p.DeletionTimestamp = &now
			err = client.Tracker().Update(podsGVR, p, p.Namespace)
		}
		return true, nil, err
	})
	r := start(t, client, t.TempDir())
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	var first *v1.Pod
	eventually(t, "mirror pod", func() bool { first = r.pod("default", "web-n1"); return first != nil })
	r.write("web.yaml", fmt.Sprintf(webYAML, "v2"))
	eventually(t, "graceful delete of the old mirror pod", func() bool {
		p := r.pod("default", "web-n1")
		return p != nil && p.DeletionTimestamp != nil
	})
	time.Sleep(300 * time.Millisecond) // ten directory reads while the old pod terminates
	if p := r.pod("default", "web-n1"); p == nil || p.UID != first.UID {
		t.Fatalf("old pod replaced before it was gone: %+v", p)
	}
	if n := deletes.Load(); n != 1 {
		t.Fatalf("%d deletes of the terminating pod, want 1", n)
	}
	if strings.Contains(r.logs.String(), "not created") {
		t.Fatalf("tried to create while the old pod terminated:\n%s", r.logs)
	}
	// The kubelet has stopped it and removes it.
	if err := client.Tracker().Delete(podsGVR, "default", "web-n1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new mirror pod", func() bool {
		p := r.pod("default", "web-n1")
		return p != nil && p.UID != first.UID && p.Spec.Containers[0].Image == "testapp:v2" && p.DeletionTimestamp == nil
	})
}

func TestBadFilesSkipped(t *testing.T) {
	r := start(t, newClient(), t.TempDir())
	bad := map[string]string{
		"garbage.yaml":  "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
		"deploy.yaml":   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
		"noname.yaml":   "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: c, image: i}]\n",
		"empty.json":    `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"e"},"spec":{"containers":[]}}`,
		"two.yaml":      fmt.Sprintf(webYAML, "a") + "---\n" + fmt.Sprintf(webYAML, "b"),
		"nothing.yml":   "# only a comment\n",
		"badname.yaml":  "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers: [{name: c, image: i}]\n",
		"nokind.json":   `{"metadata":{"name":"x"}}`,
		"dup-web.yaml":  fmt.Sprintf(webYAML, "dup"), // used: the first of two files with pod "web"
		"z-dup-web.yml": fmt.Sprintf(webYAML, "dup2"),
	}
	for name, content := range bad {
		r.write(name, content)
	}
	r.write("notes.txt", "not a manifest")
	r.write(".web.yaml", fmt.Sprintf(webYAML, "hidden")) // dot-files are ignored
	r.write("ok.yaml", strings.Replace(fmt.Sprintf(webYAML, "v1"), "name: web", "name: ok", 1))
	eventually(t, "the good file's mirror pod", func() bool { return r.pod("default", "ok-n1") != nil })
	eventually(t, "every bad file logged", func() bool {
		logs := r.logs.String()
		for name := range bad {
			if name == "dup-web.yaml" {
				continue // the first of the duplicates is used
			}
			if !strings.Contains(logs, filepath.Join(r.dir, name)) {
				return false
			}
		}
		return true
	})
	logs := r.logs.String()
	for _, want := range []string{"holds a apps/v1 Deployment, not a Pod", "has no metadata.name", "has no spec.containers",
		"holds 2 objects", "is empty", "is not a valid pod name", "defines the same pod default/web-n1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	pods, err := r.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Namespace+"/"+p.Name+"="+p.Spec.Containers[0].Image)
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "default/ok-n1=testapp:v1,default/web-n1=testapp:dup" {
		t.Fatalf("pods: %s", got)
	}
	// Each problem is logged once, not on every read.
	if n := strings.Count(r.logs.String(), "defines the same pod"); n != 1 {
		t.Errorf("duplicate logged %d times", n)
	}
	if n := strings.Count(r.logs.String(), filepath.Join(r.dir, "garbage.yaml")); n != 1 {
		t.Errorf("garbage.yaml logged %d times", n)
	}
}

// TestBadEditKeepsPod: a good file that turns bad keeps its pod.
func TestBadEditKeepsPod(t *testing.T) {
	r := start(t, newClient(), t.TempDir())
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	var first *v1.Pod
	eventually(t, "mirror pod", func() bool { first = r.pod("default", "web-n1"); return first != nil })
	r.write("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n")
	eventually(t, "parse error logged", func() bool { return strings.Contains(r.logs.String(), "last good version keeps running") })
	time.Sleep(100 * time.Millisecond)
	if p := r.pod("default", "web-n1"); p == nil || p.UID != first.UID {
		t.Fatalf("pod after a bad edit: %+v", p)
	}
}

// TestStaleMirrorsOnStart: after a restart, mirror pods of this node whose
// file is gone are deleted; other pods are left alone.
func TestStaleMirrorsOnStart(t *testing.T) {
	mirror := func(name, node string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("u-" + name),
			Annotations: map[string]string{AnnotationMirror: "h", AnnotationHash: "h", AnnotationSource: "file"}},
			Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "i"}}}}
	}
	user := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user", Namespace: "default", UID: "u-user"},
		Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "c", Image: "i"}}}}
	client := newClient(mirror("old-n1", "n1"), mirror("far-n2", "n2"), user)
	dir := t.TempDir()
	r := start(t, client, dir)
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	eventually(t, "stale mirror deleted", func() bool { return r.pod("default", "old-n1") == nil })
	eventually(t, "mirror pod", func() bool { return r.pod("default", "web-n1") != nil })
	r.stop()

	// The file goes while the agent is down.
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, client, dir)
	eventually(t, "mirror of the removed file deleted", func() bool { return r2.pod("default", "web-n1") == nil })
	if r2.pod("default", "user") == nil || r2.pod("default", "far-n2") == nil {
		t.Fatal("deleted a pod that is not a mirror pod of this node")
	}
}

// TestMissingDirLater: a directory created after start is picked up.
func TestMissingDirLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	r := start(t, newClient(), dir)
	eventually(t, "missing directory logged", func() bool { return strings.Contains(r.logs.String(), "does not exist") })
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	eventually(t, "mirror pod", func() bool { return r.pod("default", "web-n1") != nil })
}

func TestConflictWithOrdinaryPod(t *testing.T) {
	other := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-n1", Namespace: "default", UID: "u-other"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "mine"}}}}
	r := start(t, newClient(other), t.TempDir())
	r.write("web.yaml", fmt.Sprintf(webYAML, "v1"))
	eventually(t, "conflict logged", func() bool { return strings.Contains(r.logs.String(), "is not a mirror pod of this node") })
	if p := r.pod("default", "web-n1"); p == nil || p.UID != "u-other" {
		t.Fatalf("the ordinary pod was touched: %+v", p)
	}
}

func TestConfigErrors(t *testing.T) {
	if err := Run(context.Background(), Config{Dir: "/x"}); err == nil {
		t.Fatal("Run without a client accepted")
	}
	if err := Run(context.Background(), Config{Client: newClient(), NodeName: "n1"}); err != nil {
		t.Fatalf("empty Dir (disabled): %v", err)
	}
}
