package ctrlutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPodSourceIndex(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	inf := f.Core().V1().Pods().Informer()
	a, b := NewPodSource(inf), NewPodSource(inf) // shared informer: second add is a no-op
	if !a.indexed || !b.indexed {
		t.Fatal("index not added")
	}
	owner := &metav1.ObjectMeta{Name: "rs", UID: "u1"}
	ref := NewControllerRef(owner, corev1.SchemeGroupVersion.WithKind("ReplicaSet"))
	other := NewControllerRef(&metav1.ObjectMeta{Name: "x", UID: "u2"}, corev1.SchemeGroupVersion.WithKind("ReplicaSet"))
	add := func(ns, name string, r *metav1.OwnerReference) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if r != nil {
			p.OwnerReferences = []metav1.OwnerReference{*r}
		}
		if err := inf.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	add("ns", "mine", ref)
	add("ns", "orphan", nil)
	add("ns", "theirs", other)
	add("elsewhere", "orphan2", nil)
	got, err := a.Candidates("ns", "u1")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range got {
		names[p.Name] = true
	}
	if len(got) != 2 || !names["mine"] || !names["orphan"] {
		t.Fatalf("candidates %v; want mine and orphan", names)
	}
	unindexed := &PodSource{inf: inf}
	if all, _ := unindexed.Candidates("ns", "u1"); len(all) != 3 {
		t.Fatalf("fallback lists the namespace: got %d pods", len(all))
	}
}
