package ctrlutil

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpectations(t *testing.T) {
	e := NewExpectations()
	if !e.Satisfied("a") {
		t.Fatal("unknown key must be satisfied")
	}
	e.Expect("a", 2, []string{"ns/p1"})
	e.CreationObserved("a")
	e.CreationObserved("a")
	if e.Satisfied("a") {
		t.Fatal("deletion of ns/p1 still pending")
	}
	e.DeletionObserved("a", "ns/other")
	if e.Satisfied("a") {
		t.Fatal("observing an unrelated deletion must not satisfy")
	}
	e.DeletionObserved("a", "ns/p1")
	if !e.Satisfied("a") {
		t.Fatal("all observed, must be satisfied")
	}
}

func TestSlowStartStopsOnError(t *testing.T) {
	var calls atomic.Int32
	n, err := SlowStart(100, func() error { calls.Add(1); return errors.New("quota") })
	if err == nil || n != 1 || calls.Load() != 1 {
		t.Fatalf("a failing first call must stop the burst: n=%d calls=%d err=%v", n, calls.Load(), err)
	}
	calls.Store(0)
	n, err = SlowStart(10, func() error { calls.Add(1); return nil })
	if err != nil || n != 10 || calls.Load() != 10 {
		t.Fatalf("n=%d calls=%d err=%v", n, calls.Load(), err)
	}
}

func TestAvailability(t *testing.T) {
	now := time.Now()
	p := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady,
		Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-3 * time.Second))}}}}
	if ok, _ := IsPodAvailable(p, 0, now); !ok {
		t.Fatal("ready pod with minReadySeconds 0 is available")
	}
	ok, wait := IsPodAvailable(p, 10, now)
	if ok || wait != 7*time.Second {
		t.Fatalf("ok=%v wait=%v; want not yet, 7s", ok, wait)
	}
	if ok, _ := IsPodAvailable(p, 2, now); !ok {
		t.Fatal("ready for 3s with minReadySeconds 2 is available")
	}
}

func TestPodFromTemplate(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	owner := &metav1.ObjectMeta{Name: "web", UID: "u"}
	ref := NewControllerRef(owner, corev1.SchemeGroupVersion.WithKind("ReplicationController"))
	p := PodFromTemplate(tpl, "ns", strings.Repeat("x", 70), ref)
	if len(p.GenerateName) != 58 || p.Namespace != "ns" || p.Labels["a"] != "b" || p.OwnerReferences[0].UID != "u" {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	p.Labels["a"] = "changed"
	if tpl.Labels["a"] != "b" {
		t.Fatal("pod shares the template's label map")
	}
}
