package events

import (
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Broadcaster fans controller events out to the events API and slog.
type Broadcaster struct {
	b record.EventBroadcaster
}

// NewBroadcaster starts a broadcaster that records events through client.
// Call Shutdown when the controllers stop.
func NewBroadcaster(client kubernetes.Interface) *Broadcaster {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	b.StartEventWatcher(func(e *corev1.Event) {
		slog.Debug("event", "object", fmt.Sprintf("%s/%s/%s", e.InvolvedObject.Kind, e.InvolvedObject.Namespace, e.InvolvedObject.Name),
			"type", e.Type, "reason", e.Reason, "message", e.Message, "source", e.Source.Component)
	})
	return &Broadcaster{b: b}
}

// Recorder returns a recorder whose events name component as their source.
func (b *Broadcaster) Recorder(component string) record.EventRecorder {
	return b.b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

// Shutdown stops delivering events.
func (b *Broadcaster) Shutdown() { b.b.Shutdown() }

// Discard is a recorder that drops every event; controllers use it when
// given a nil recorder.
func Discard() record.EventRecorder { return &record.FakeRecorder{} }

// OrDiscard returns r, or Discard() when r is nil.
func OrDiscard(r record.EventRecorder) record.EventRecorder {
	if r == nil {
		return Discard()
	}
	return r
}
