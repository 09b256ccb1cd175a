package kubelet

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func listEvents(t *testing.T, client *fake.Clientset) []v1.Event {
	t.Helper()
	l, err := client.CoreV1().Events("apps").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

var eventPod = &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", UID: "u1"}}

func countOf(t *testing.T, client *fake.Clientset, reason string) int32 {
	for _, e := range listEvents(t, client) {
		if e.Reason == reason {
			return e.Count
		}
	}
	return 0
}

func writes(client *fake.Clientset) (n int) {
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "events" && (a.GetVerb() == "create" || a.GetVerb() == "patch") {
			n++
		}
	}
	return n
}

func TestEventSinkSeriesRaiseCount(t *testing.T) {
	client := fake.NewSimpleClientset()
	s := newEventSink(client, nil, slog.Default())
	for range 3 {
		s.record(eventPod, "spec.containers{app}", v1.EventTypeWarning, "Unhealthy", "Readiness probe failed: 500", "n1")
	}
	s.record(eventPod, "spec.containers{app}", v1.EventTypeNormal, "Started", "Started container app", "n1")
	if !waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool {
		return len(listEvents(t, client)) == 2 && countOf(t, client, "Unhealthy") == 3
	}) {
		t.Fatalf("want 2 events, Unhealthy x3, got %+v", listEvents(t, client))
	}
	for _, e := range listEvents(t, client) {
		want := int32(1)
		if e.Reason == "Unhealthy" {
			want = 3
		}
		if e.Count != want || e.Source.Component != "kubelet" || e.Source.Host != "n1" || e.InvolvedObject.UID != "u1" ||
			e.InvolvedObject.FieldPath != "spec.containers{app}" || e.LastTimestamp.Before(&e.FirstTimestamp) {
			t.Errorf("event %s: count %d (want %d), source %+v, object %+v", e.Reason, e.Count, want, e.Source, e.InvolvedObject)
		}
	}

	// An expired Event (gone from the API) starts a new series.
	for _, e := range listEvents(t, client) {
		if err := client.CoreV1().Events("apps").Delete(context.Background(), e.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.record(eventPod, "spec.containers{app}", v1.EventTypeWarning, "Unhealthy", "Readiness probe failed: 500", "n1")
	if !waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool {
		l := listEvents(t, client)
		return len(l) == 1 && l[0].Count == 1
	}) {
		t.Fatalf("after expiry: %+v", listEvents(t, client))
	}
}

// A repeat past the first few is written at most once per interval, with
// every repeat counted.
func TestEventSinkCoalescesRepeats(t *testing.T) {
	client := fake.NewSimpleClientset()
	s := startEventSink(&eventSink{client: client, log: slog.Default(), every: 300 * time.Millisecond})
	for range 40 {
		s.record(eventPod, "spec.containers{app}", v1.EventTypeWarning, "Unhealthy", "Liveness probe failed: timeout", "n1")
	}
	if !waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool { return countOf(t, client, "Unhealthy") == 40 }) {
		t.Fatalf("count %d, want 40", countOf(t, client, "Unhealthy"))
	}
	if n := writes(client); n > eventSeriesEager+2 {
		t.Fatalf("%d writes for 40 repeats in a burst, want at most %d", n, eventSeriesEager+2)
	}
}

func TestEventSinkHoldsBackWhilePodsStart(t *testing.T) {
	client := fake.NewSimpleClientset()
	var busy atomic.Bool
	busy.Store(true)
	s := startEventSink(&eventSink{client: client, busy: busy.Load, log: slog.Default(), holdBack: time.Second, every: eventSeriesEvery})
	s.record(eventPod, "", v1.EventTypeNormal, "Created", "Created container: app", "n1")
	time.Sleep(250 * time.Millisecond)
	if n := len(listEvents(t, client)); n != 0 {
		t.Fatalf("event written while pods were starting (%d events)", n)
	}
	if !waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool { return len(listEvents(t, client)) == 1 }) {
		t.Fatal("event never written once its hold-back ended")
	}
	busy.Store(false)
	s.record(eventPod, "", v1.EventTypeNormal, "Started", "Started container app", "n1")
	if !waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool { return len(listEvents(t, client)) == 2 }) {
		t.Fatal("event not written")
	}
}
