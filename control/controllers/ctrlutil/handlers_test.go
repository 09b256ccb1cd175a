package ctrlutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func ownedPod(name, kind, owner string) *corev1.Pod {
	yes := true
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
		OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: owner, Controller: &yes}}}}
}

func TestOwnerKey(t *testing.T) {
	for _, c := range []struct {
		obj  any
		want string
	}{
		{ownedPod("p", "Job", "j1"), "ns/j1"},
		{ownedPod("p", "ReplicaSet", "rs"), ""},
		{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bare"}}, ""},
		{&corev1.Node{}, ""},
	} {
		if got := OwnerKey(c.obj, "Job"); got != c.want {
			t.Errorf("OwnerKey(%T) = %q, want %q", c.obj, got, c.want)
		}
	}
}

func TestOwnedPodHandler(t *testing.T) {
	q := NewQueue("test")
	defer q.ShutDown()
	exp := NewExpectations()
	var updates []string
	h := OwnedPodHandler("Job", q, exp, func(key string, old, cur *corev1.Pod) { updates = append(updates, key+" "+cur.Name) })
	exp.Expect("ns/j1", 1, []string{"ns/old"})

	h.OnAdd(ownedPod("new", "Job", "j1"), false)
	h.OnAdd(ownedPod("other", "ReplicaSet", "rs"), false) // not ours: nothing
	if q.Len() != 1 || exp.Satisfied("ns/j1") {
		t.Fatalf("after the add: queue %d (want 1), satisfied %v (want false: ns/old pending)", q.Len(), exp.Satisfied("ns/j1"))
	}
	old := ownedPod("old", "Job", "j1")
	gone := old.DeepCopy()
	now := metav1.Now()
	gone.DeletionTimestamp = &now
	h.OnUpdate(old, gone)
	if !exp.Satisfied("ns/j1") {
		t.Fatal("the pod's deletion timestamp did not count as its deletion")
	}
	if len(updates) != 1 || updates[0] != "ns/j1 old" {
		t.Fatalf("onUpdate saw %v, want [ns/j1 old]", updates)
	}

	exp.Expect("ns/j1", 0, []string{"ns/tomb"})
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/tomb", Obj: ownedPod("tomb", "Job", "j1")})
	if !exp.Satisfied("ns/j1") {
		t.Fatal("a tombstone's deletion was not counted")
	}
	if k, _ := q.Get(); k != "ns/j1" {
		t.Fatalf("queued %q, want ns/j1", k)
	}
}

func TestOwnerHandler(t *testing.T) {
	q := NewQueue("test")
	defer q.ShutDown()
	exp := NewExpectations()
	h := OwnerHandler(q, exp)
	job := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "j1"}} // any object with metadata
	h.OnAdd(job, false)
	if k, _ := q.Get(); k != "ns/j1" {
		t.Fatalf("queued %q, want ns/j1", k)
	}
	exp.Expect("ns/j1", 3, nil)
	h.OnDelete(job)
	if !exp.Satisfied("ns/j1") {
		t.Fatal("deleting the owner kept its expectations")
	}
}
