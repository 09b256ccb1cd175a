package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	jsonser "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	e, err := StartEmbedded(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	codec := jsonser.NewSerializerWithOptions(jsonser.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, jsonser.SerializerOptions{})
	return New(e.Client, codec)
}

func cm(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"k": name}}
}

func newCM() runtime.Object { return &corev1.ConfigMap{} }

func TestCRUDConflictAndPaging(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := cm("ns1", "a")
	if err := s.Create(ctx, Key("configmaps", "ns1", "a"), a); err != nil {
		t.Fatal(err)
	}
	if a.ResourceVersion == "" {
		t.Fatal("create did not set resourceVersion")
	}
	if err := s.Create(ctx, Key("configmaps", "ns1", "a"), cm("ns1", "a")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	var got corev1.ConfigMap
	rev, err := s.Get(ctx, Key("configmaps", "ns1", "a"), &got)
	if err != nil || got.Data["k"] != "a" || got.ResourceVersion != a.ResourceVersion {
		t.Fatalf("get: %v %+v", err, got)
	}
	got.Data["k"] = "b"
	if err := s.Update(ctx, Key("configmaps", "ns1", "a"), &got, rev); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, Key("configmaps", "ns1", "a"), &got, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if _, err := s.Get(ctx, Key("configmaps", "ns1", "zz"), &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing get: %v", err)
	}
	for i := 0; i < 7; i++ {
		if err := s.Create(ctx, Key("configmaps", "ns2", fmt.Sprintf("c%d", i)), cm("ns2", fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	cont := ""
	pages := 0
	for {
		res, err := s.List(ctx, Prefix("configmaps", "ns2"), ListOptions{Limit: 3, Continue: cont}, newCM)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range res.Items {
			names = append(names, o.(*corev1.ConfigMap).Name)
		}
		// A write between pages must not show up: pages read one revision.
		if pages == 1 {
			_ = s.Create(ctx, Key("configmaps", "ns2", "c9"), cm("ns2", "c9"))
		}
		if res.Continue == "" {
			break
		}
		cont = res.Continue
	}
	if pages != 3 || len(names) != 7 || names[0] != "c0" || names[6] != "c6" {
		t.Fatalf("paging: %d pages, %v", pages, names)
	}
	res, err := s.List(ctx, Prefix("configmaps", ""), ListOptions{Filter: func(o runtime.Object) bool {
		return o.(*corev1.ConfigMap).Namespace == "ns1"
	}}, newCM)
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("filtered list: %v %d", err, len(res.Items))
	}
	if _, err := s.Delete(ctx, Key("configmaps", "ns1", "a"), 1); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with stale precondition: %v", err)
	}
	if _, err := s.Delete(ctx, Key("configmaps", "ns1", "a"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, Key("configmaps", "ns1", "a"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.List(ctx, Prefix("configmaps", "ns2"), ListOptions{Continue: "garbage"}, newCM); !errors.Is(err, ErrBadContinue) {
		t.Fatalf("bad continue: %v", err)
	}
}

func TestWatchFromRevisionAndCompaction(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := cm("w", "a")
	if err := s.Create(ctx, Key("configmaps", "w", "a"), a); err != nil {
		t.Fatal(err)
	}
	res, err := s.List(ctx, Prefix("configmaps", "w"), ListOptions{}, newCM)
	if err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, Prefix("configmaps", "w"), res.Revision, WatchOptions{}, newCM)
	b := cm("w", "b")
	if err := s.Create(ctx, Key("configmaps", "w", "b"), b); err != nil {
		t.Fatal(err)
	}
	var cur corev1.ConfigMap
	rev, _ := s.Get(ctx, Key("configmaps", "w", "a"), &cur)
	cur.Data["k"] = "z"
	if err := s.Update(ctx, Key("configmaps", "w", "a"), &cur, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, Key("configmaps", "w", "b"), 0); err != nil {
		t.Fatal(err)
	}
	want := []EventType{Added, Modified, Deleted}
	var lastRev int64
	for i, w := range want {
		ev := <-ch
		if ev.Type != w {
			t.Fatalf("event %d: %s, want %s (%v)", i, ev.Type, w, ev.Err)
		}
		if ev.Revision <= lastRev {
			t.Fatalf("event %d out of order", i)
		}
		lastRev = ev.Revision
	}
	// Compact past the list revision: a watch from the old revision gets ErrCompacted.
	if err := s.Compact(ctx, lastRev); err != nil {
		t.Fatal(err)
	}
	old := s.Watch(ctx, Prefix("configmaps", "w"), res.Revision, WatchOptions{}, newCM)
	ev := <-old
	if ev.Type != Error || !errors.Is(ev.Err, ErrCompacted) {
		t.Fatalf("watch from compacted revision: %+v", ev)
	}
	if _, err := s.List(ctx, Prefix("configmaps", "w"), ListOptions{Revision: res.Revision}, newCM); !errors.Is(err, ErrCompacted) {
		t.Fatalf("list at compacted revision: %v", err)
	}
}

// Watchers of one prefix share each decoded object (decoded once), marked
// Shared, and still see the right contents and revisions.
func TestWatchersShareDecodedObjects(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w1 := s.Watch(ctx, Prefix("configmaps", "sh"), 0, WatchOptions{}, newCM)
	w2 := s.Watch(ctx, Prefix("configmaps", "sh"), 0, WatchOptions{}, newCM)
	time.Sleep(200 * time.Millisecond) // both watches established
	if err := s.Create(ctx, Key("configmaps", "sh", "x"), cm("sh", "x")); err != nil {
		t.Fatal(err)
	}
	var cur corev1.ConfigMap
	rev, _ := s.Get(ctx, Key("configmaps", "sh", "x"), &cur)
	cur.Data["k"] = "changed"
	if err := s.Update(ctx, Key("configmaps", "sh", "x"), &cur, rev); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"x", "changed"} {
		e1, e2 := <-w1, <-w2
		if !e1.Shared || e1.Object != e2.Object {
			t.Fatalf("event %d: not one shared object (shared %v, %p vs %p)", i, e1.Shared, e1.Object, e2.Object)
		}
		got := e1.Object.(*corev1.ConfigMap)
		if got.Data["k"] != want || got.ResourceVersion != fmt.Sprint(e1.Revision) {
			t.Fatalf("event %d: data %v rv %s, want %s at %d", i, got.Data, got.ResourceVersion, want, e1.Revision)
		}
		if i == 1 && (e1.PrevObject == nil || e1.PrevObject.(*corev1.ConfigMap).Data["k"] != "x") {
			t.Fatalf("modified event: previous object %+v", e1.PrevObject)
		}
	}
}
