package replicaset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	lbl := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:v1"}}},
			},
		},
	}
}

func start(t *testing.T) (*fake.Clientset, *record.FakeRecorder) {
	t.Helper()
	client := ctrltest.NewClient()
	// Without resourceVersions, a status write from a stale cache would
	// replace a newer spec in the fake clientset, which a real API server
	// refuses with 409.
	ctrltest.EmulateWrites(client)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(1000)
	c := New(client, f, rec)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go c.Run(ctx, 2)
	return client, rec
}

func pods(t *testing.T, c *fake.Clientset) []corev1.Pod {
	l, err := c.CoreV1().Pods("ns1").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestCreatesAndDeletesPods(t *testing.T) {
	client, rec := start(t)
	ctx := context.Background()
	rs, err := client.AppsV1().ReplicaSets("ns1").Create(ctx, newRS("web", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return len(pods(t, client)) == 3 }, "3 pods")
	time.Sleep(100 * time.Millisecond) // no over-creation on later syncs
	ps := pods(t, client)
	if len(ps) != 3 {
		t.Fatalf("want 3 pods, got %d", len(ps))
	}
	for _, p := range ps {
		if p.GenerateName != "web-" || len(p.Name) != len("web-")+5 {
			t.Errorf("pod name %q generateName %q", p.Name, p.GenerateName)
		}
		if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != rs.UID || !*p.OwnerReferences[0].Controller {
			t.Errorf("pod %s ownerReferences %+v", p.Name, p.OwnerReferences)
		}
	}
	// Two pods become ready and scheduled; scale to 2 must delete the unready one.
	for _, p := range ps[:2] {
		p.Spec.NodeName = "n1"
		if _, err := client.CoreV1().Pods("ns1").Update(ctx, &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		p2, _ := client.CoreV1().Pods("ns1").Get(ctx, p.Name, metav1.GetOptions{})
		p2.Status.Phase = corev1.PodRunning
		p2.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := client.CoreV1().Pods("ns1").UpdateStatus(ctx, p2, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		got, _ := client.AppsV1().ReplicaSets("ns1").Get(ctx, "web", metav1.GetOptions{})
		return got.Status.ReadyReplicas == 2 && got.Status.AvailableReplicas == 2 && got.Status.Replicas == 3 &&
			got.Status.FullyLabeledReplicas == 3 && got.Status.ObservedGeneration == got.Generation
	}, "status ready=2 available=2 replicas=3: %+v", func() any {
		g, _ := client.AppsV1().ReplicaSets("ns1").Get(ctx, "web", metav1.GetOptions{})
		return g.Status
	}())
	got, _ := client.AppsV1().ReplicaSets("ns1").Get(ctx, "web", metav1.GetOptions{})
	two := int32(2)
	got.Spec.Replicas = &two
	got.Generation++
	if _, err := client.AppsV1().ReplicaSets("ns1").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return len(pods(t, client)) == 2 }, "2 pods")
	for _, p := range pods(t, client) {
		if p.Name == ps[2].Name {
			t.Errorf("ready pod kept but unready pod %s should have been deleted first", p.Name)
		}
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		got, _ := client.AppsV1().ReplicaSets("ns1").Get(ctx, "web", metav1.GetOptions{})
		return got.Status.Replicas == 2 && got.Status.ObservedGeneration == 2
	}, "status replicas=2 observedGeneration=2")
	var created, deleted int
	for len(rec.Events) > 0 {
		e := <-rec.Events
		switch {
		case len(e) > 24 && e[:24] == "Normal SuccessfulCreate ":
			created++
		case len(e) > 24 && e[:24] == "Normal SuccessfulDelete ":
			deleted++
		}
	}
	if created != 3 || deleted != 1 {
		t.Errorf("events: %d SuccessfulCreate, %d SuccessfulDelete; want 3 and 1", created, deleted)
	}
}

func TestAdoptsAndReleases(t *testing.T) {
	client, _ := start(t)
	ctx := context.Background()
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "orphan", Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := client.CoreV1().Pods("ns1").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := client.AppsV1().ReplicaSets("ns1").Create(ctx, newRS("db", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		p, _ := client.CoreV1().Pods("ns1").Get(ctx, "orphan", metav1.GetOptions{})
		return len(p.OwnerReferences) == 1 && p.OwnerReferences[0].UID == rs.UID
	}, "orphan adopted")
	time.Sleep(100 * time.Millisecond)
	if n := len(pods(t, client)); n != 1 {
		t.Fatalf("adopted pod satisfies replicas=1, yet %d pods exist", n)
	}
	// Relabel: the pod is released and a replacement created.
	p, _ := client.CoreV1().Pods("ns1").Get(ctx, "orphan", metav1.GetOptions{})
	p.Labels = map[string]string{"app": "other"}
	if _, err := client.CoreV1().Pods("ns1").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		p, _ := client.CoreV1().Pods("ns1").Get(ctx, "orphan", metav1.GetOptions{})
		return len(p.OwnerReferences) == 0 && len(pods(t, client)) == 2
	}, "pod released and replaced")
}

func TestPodsToDeleteOrder(t *testing.T) {
	mk := func(name, node string, phase corev1.PodPhase, ready bool, age time.Duration) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	in := []*corev1.Pod{
		mk("ready-old", "n", corev1.PodRunning, true, time.Hour),
		mk("ready-new", "n", corev1.PodRunning, true, time.Minute),
		mk("running-unready", "n", corev1.PodRunning, false, time.Hour),
		mk("pending", "n", corev1.PodPending, false, time.Hour),
		mk("unscheduled", "", corev1.PodPending, false, time.Hour),
	}
	got := PodsToDelete(in, 5)
	want := []string{"unscheduled", "pending", "running-unready", "ready-new", "ready-old"}
	for i := range want {
		if got[i].Name != want[i] {
			t.Fatalf("order %d: got %s want %s", i, got[i].Name, want[i])
		}
	}
}
