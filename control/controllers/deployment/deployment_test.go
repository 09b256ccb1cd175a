package deployment

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
	"github.com/skiffnet/skiff/control/controllers/replicaset"
)

const ns = "ns1"

type env struct {
	client *fake.Clientset
	rec    *record.FakeRecorder
	clock  *clocktesting.FakeClock
	// bad images never become ready.
	bad sync.Map
	// max pods seen at once, min ready pods seen once ready pods reached the target.
	maxPods, minAvail atomic.Int32
}

// start runs the deployment and replicaset controllers and a loop playing
// kubelet: every pod is marked Running and Ready unless its image is bad.
func start(t *testing.T) *env {
	t.Helper()
	e := &env{client: ctrltest.NewClient(), rec: record.NewFakeRecorder(10000), clock: clocktesting.NewFakeClock(time.Now())}
	ctrltest.EmulateWrites(e.client)
	e.minAvail.Store(1 << 30)
	f := informers.NewSharedInformerFactory(e.client, 0)
	dc := New(e.client, f, e.rec)
	dc.SetClock(e.clock)
	rc := replicaset.New(e.client, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go dc.Run(ctx, 2)
	go rc.Run(ctx, 2)
	go func() {
		for ctx.Err() == nil {
			e.kubelet(ctx)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return e
}

func (e *env) kubelet(ctx context.Context) {
	l, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	e.maxPods.Store(max(e.maxPods.Load(), int32(len(l.Items))))
	ready := int32(0)
	for _, p := range l.Items {
		if len(p.Status.Conditions) > 0 {
			ready++
			continue
		}
		if _, bad := e.bad.Load(p.Spec.Containers[0].Image); bad {
			continue
		}
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		_, _ = e.client.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
	}
	if e.maxPods.Load() > 0 {
		e.minAvail.Store(min(e.minAvail.Load(), ready))
	}
}

func newDeployment(name string, n int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
		},
	}
}

func (e *env) get(t *testing.T, name string) *appsv1.Deployment {
	d, err := e.client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) rss(t *testing.T) []appsv1.ReplicaSet {
	l, err := e.client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func (e *env) podImages(t *testing.T) map[string]int {
	l, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, p := range l.Items {
		m[p.Spec.Containers[0].Image]++
	}
	return m
}

// update applies fn to the deployment's spec and bumps generation, as the
// API server would.
func (e *env) update(t *testing.T, name string, fn func(*appsv1.Deployment)) {
	t.Helper()
	for i := 0; i < 20; i++ {
		d := e.get(t, name)
		fn(d)
		d.Generation++
		if _, err := e.client.AppsV1().Deployments(ns).Update(context.Background(), d, metav1.UpdateOptions{}); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("could not update deployment")
}

// rolledOut is kubectl rollout status's success test.
func rolledOut(d *appsv1.Deployment) bool {
	want := *d.Spec.Replicas
	return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
		d.Status.Replicas == want && d.Status.AvailableReplicas == want
}

func cond(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	return getCondition(d.Status, t)
}

func TestRollingUpdateAndUndo(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	d := newDeployment("web", 3, "img:v1")
	d.Annotations = map[string]string{ChangeCauseAnnotation: "first"}
	if _, err := e.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool { return rolledOut(e.get(t, "web")) }, "first rollout")
	got := e.get(t, "web")
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("deployment revision %q, want 1", got.Annotations[RevisionAnnotation])
	}
	if c := cond(got, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSAvailable || c.Status != corev1.ConditionTrue {
		t.Fatalf("Progressing condition %+v", c)
	}
	if c := cond(got, appsv1.DeploymentAvailable); c == nil || c.Reason != ReasonMinAvailable || c.Status != corev1.ConditionTrue {
		t.Fatalf("Available condition %+v", c)
	}
	rs1 := e.rss(t)
	if len(rs1) != 1 {
		t.Fatalf("%d replicasets, want 1", len(rs1))
	}
	first := rs1[0]
	hash := first.Labels[HashLabel]
	if hash == "" || first.Name != "web-"+hash || first.Spec.Template.Labels[HashLabel] != hash ||
		first.Spec.Selector.MatchLabels[HashLabel] != hash || first.Labels["app"] != "web" {
		t.Fatalf("replicaset naming/labels wrong: name %s labels %v selector %v", first.Name, first.Labels, first.Spec.Selector)
	}
	if ref := first.OwnerReferences; len(ref) != 1 || ref[0].UID != got.UID || !*ref[0].Controller || ref[0].Kind != "Deployment" {
		t.Fatalf("replicaset ownerReferences %+v", ref)
	}
	if first.Annotations[RevisionAnnotation] != "1" || first.Annotations[ChangeCauseAnnotation] != "first" {
		t.Fatalf("replicaset annotations %v", first.Annotations)
	}
	if ComputeHash(&d.Spec.Template, nil) != hash {
		t.Fatalf("hash not stable: %s vs %s", ComputeHash(&d.Spec.Template, nil), hash)
	}

	// v1 -> v2 with maxSurge 1 / maxUnavailable 0.
	e.maxPods.Store(0)
	e.minAvail.Store(1 << 30)
	e.update(t, "web", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "img:v2"
		d.Annotations[ChangeCauseAnnotation] = "second"
	})
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		return rolledOut(e.get(t, "web")) && e.podImages(t)["img:v2"] == 3 && len(e.podImages(t)) == 1
	}, "rollout to v2")
	if m := e.maxPods.Load(); m > 4 {
		t.Errorf("saw %d pods at once; maxSurge 1 allows 4", m)
	}
	if m := e.minAvail.Load(); m < 3 {
		t.Errorf("ready pods dropped to %d; maxUnavailable 0 keeps 3", m)
	}
	got = e.get(t, "web")
	if got.Annotations[RevisionAnnotation] != "2" {
		t.Fatalf("deployment revision %q, want 2", got.Annotations[RevisionAnnotation])
	}
	var oldRS, newRS appsv1.ReplicaSet
	for _, rs := range e.rss(t) {
		if rs.UID == first.UID {
			oldRS = rs
		} else {
			newRS = rs
		}
	}
	if *oldRS.Spec.Replicas != 0 || oldRS.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("old RS replicas %d revision %s", *oldRS.Spec.Replicas, oldRS.Annotations[RevisionAnnotation])
	}
	if newRS.Annotations[RevisionAnnotation] != "2" || newRS.Annotations[ChangeCauseAnnotation] != "second" || *newRS.Spec.Replicas != 3 {
		t.Fatalf("new RS annotations %v replicas %d", newRS.Annotations, *newRS.Spec.Replicas)
	}

	// kubectl rollout undo: JSON patch replaces the template with the old
	// RS's (hash label removed) and the annotations with the RS's.
	tpl := oldRS.Spec.Template.DeepCopy()
	delete(tpl.Labels, HashLabel)
	ann := map[string]string{RevisionAnnotation: got.Annotations[RevisionAnnotation], ChangeCauseAnnotation: oldRS.Annotations[ChangeCauseAnnotation]}
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tpl},
		{"op": "replace", "path": "/metadata/annotations", "value": ann},
		{"op": "replace", "path": "/metadata/generation", "value": got.Generation + 1},
	})
	if _, err := e.client.AppsV1().Deployments(ns).Patch(ctx, "web", "application/json-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		return rolledOut(e.get(t, "web")) && e.podImages(t)["img:v1"] == 3 && len(e.podImages(t)) == 1
	}, "undo to v1")
	rss := e.rss(t)
	if len(rss) != 2 {
		t.Fatalf("undo created a new RS: %d replicasets", len(rss))
	}
	for _, rs := range rss {
		if rs.UID == first.UID {
			if rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" || *rs.Spec.Replicas != 3 {
				t.Fatalf("re-adopted RS annotations %v replicas %d", rs.Annotations, *rs.Spec.Replicas)
			}
		} else if *rs.Spec.Replicas != 0 {
			t.Fatalf("v2 RS still has %d replicas", *rs.Spec.Replicas)
		}
	}
	if r := e.get(t, "web").Annotations[RevisionAnnotation]; r != "3" {
		t.Fatalf("deployment revision %q after undo, want 3", r)
	}
	var scaling int
	for len(e.rec.Events) > 0 {
		if strings.Contains(<-e.rec.Events, "ScalingReplicaSet") {
			scaling++
		}
	}
	if scaling < 6 {
		t.Errorf("only %d ScalingReplicaSet events", scaling)
	}
}

func TestRecreate(t *testing.T) {
	e := start(t)
	d := newDeployment("rc", 2, "img:v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if _, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool { return rolledOut(e.get(t, "rc")) }, "first rollout")
	var mixed atomic.Bool
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if m := e.podImages(t); m["img:v1"] > 0 && m["img:v2"] > 0 {
				mixed.Store(true)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	e.update(t, "rc", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:v2" })
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		return rolledOut(e.get(t, "rc")) && e.podImages(t)["img:v2"] == 2 && len(e.podImages(t)) == 1
	}, "recreate to v2")
	close(stop)
	if mixed.Load() {
		t.Error("Recreate ran old and new pods together")
	}
}

func TestProgressDeadlineAndPause(t *testing.T) {
	e := start(t)
	e.bad.Store("img:bad", true)
	d := newDeployment("pd", 2, "img:v1")
	secs := int32(30)
	d.Spec.ProgressDeadlineSeconds = &secs
	if _, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool { return rolledOut(e.get(t, "pd")) }, "first rollout")
	// Pause, change the template: nothing rolls out.
	e.update(t, "pd", func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		d.Spec.Template.Spec.Containers[0].Image = "img:v3"
	})
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		d := e.get(t, "pd")
		c := cond(d, appsv1.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && c != nil && c.Reason == ReasonPaused
	}, "Progressing DeploymentPaused")
	time.Sleep(100 * time.Millisecond)
	if n := e.podImages(t)["img:v3"]; n != 0 {
		t.Fatalf("paused deployment started %d v3 pods", n)
	}
	e.update(t, "pd", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		d := e.get(t, "pd")
		c := cond(d, appsv1.DeploymentProgressing)
		return rolledOut(d) && e.podImages(t)["img:v3"] == 2 && len(e.podImages(t)) == 1 && c != nil && c.Reason == ReasonNewRSAvailable
	}, "rollout after resume")

	e.update(t, "pd", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:bad" })
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		c := cond(e.get(t, "pd"), appsv1.DeploymentProgressing)
		return c != nil && c.Reason == ReasonRSUpdated
	}, "Progressing ReplicaSetUpdated")
	e.clock.Step(31 * time.Second)
	// Any event resyncs; the real queue would come back after the deadline.
	e.update(t, "pd", func(d *appsv1.Deployment) { d.Generation--; d.Labels = map[string]string{"poke": "1"} })
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		c := cond(e.get(t, "pd"), appsv1.DeploymentProgressing)
		return c != nil && c.Reason == ReasonTimedOut && c.Status == corev1.ConditionFalse
	}, "ProgressDeadlineExceeded")
	// Availability held: maxUnavailable 0 kept the old pods.
	if got := e.get(t, "pd"); got.Status.AvailableReplicas != 2 || cond(got, appsv1.DeploymentAvailable).Status != corev1.ConditionTrue {
		t.Fatalf("available %d, condition %+v", got.Status.AvailableReplicas, cond(got, appsv1.DeploymentAvailable))
	}

}

func TestHistoryLimitAndScale(t *testing.T) {
	e := start(t)
	d := newDeployment("h", 2, "img:v1")
	one := int32(1)
	d.Spec.RevisionHistoryLimit = &one
	if _, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{"img:v2", "img:v3", "img:v4"} {
		ctrltest.Eventually(t, 10*time.Second, func() bool { return rolledOut(e.get(t, "h")) }, "rollout")
		e.update(t, "h", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		return rolledOut(e.get(t, "h")) && e.podImages(t)["img:v4"] == 2 && len(e.rss(t)) == 2
	}, "v4 rolled out with one old RS kept")
	revs := map[string]bool{}
	for _, rs := range e.rss(t) {
		revs[rs.Annotations[RevisionAnnotation]] = true
	}
	if !revs["3"] || !revs["4"] {
		t.Fatalf("kept revisions %v, want 3 and 4", revs)
	}
	e.update(t, "h", func(d *appsv1.Deployment) { five := int32(5); d.Spec.Replicas = &five })
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		return rolledOut(e.get(t, "h")) && e.podImages(t)["img:v4"] == 5
	}, "scaled to 5")
}

func TestFenceposts(t *testing.T) {
	p := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	i := func(n int) *intstr.IntOrString { v := intstr.FromInt(n); return &v }
	cases := []struct {
		surge, unavail *intstr.IntOrString
		n, ws, wu      int32
	}{
		{nil, nil, 10, 3, 2}, // 25% of 10: surge rounds up to 3, unavailable down to 2
		{nil, nil, 1, 1, 0},
		{p("0%"), p("0%"), 4, 0, 1},
		{i(2), i(0), 5, 2, 0},
		{p("50%"), p("50%"), 3, 2, 1},
	}
	for _, c := range cases {
		s, u, err := Fenceposts(c.surge, c.unavail, c.n)
		if err != nil || s != c.ws || u != c.wu {
			t.Errorf("Fenceposts(%v,%v,%d) = %d,%d,%v; want %d,%d", c.surge, c.unavail, c.n, s, u, err, c.ws, c.wu)
		}
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := newDeployment("x", 1, "img").Spec.Template
	b := *a.DeepCopy()
	b.Labels[HashLabel] = "abc"
	if !EqualIgnoreHash(&a, &b) {
		t.Fatal("templates differing only in hash label must be equal")
	}
	b.Spec.Containers[0].Image = "other"
	if EqualIgnoreHash(&a, &b) {
		t.Fatal("different images must differ")
	}
	if ComputeHash(&a, nil) == ComputeHash(&b, nil) {
		t.Fatal("different templates hashed equal")
	}
	one := int32(1)
	if ComputeHash(&a, nil) == ComputeHash(&a, &one) {
		t.Fatal("collisionCount must change the hash")
	}
}

// kubectl scale in the middle of a stuck rollout spreads the new replicas
// over the old and new RSs in proportion, keeping maxSurge.
func TestProportionalScaling(t *testing.T) {
	e := start(t)
	e.bad.Store("img:bad", true)
	if _, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), newDeployment("ps", 4, "img:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool { return rolledOut(e.get(t, "ps")) }, "first rollout")
	e.update(t, "ps", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:bad" })
	sizes := func() (old, cur int32) {
		for _, rs := range e.rss(t) {
			if rs.Spec.Template.Spec.Containers[0].Image == "img:bad" {
				cur = *rs.Spec.Replicas
			} else {
				old = *rs.Spec.Replicas
			}
		}
		return
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool { o, n := sizes(); return o == 4 && n == 1 }, "stuck at old 4 + new 1")
	e.update(t, "ps", func(d *appsv1.Deployment) { eight := int32(8); d.Spec.Replicas = &eight })
	ctrltest.Eventually(t, 10*time.Second, func() bool { o, n := sizes(); return o+n == 9 }, "scaled to 8 + 1 surge")
	o, n := sizes()
	if o != 7 || n != 2 {
		t.Fatalf("old %d new %d; want 7 and 2 (proportional to 4:1 of max 5 -> 9)", o, n)
	}
}
