package kubelet

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Event timing and bounds.
const (
	// eventHoldBack is how long an event may wait while pods are being
	// created (create slots in use): starting pods comes first, the
	// record of it once the burst is over. A burst of 30 pods on 2 cores
	// takes about 2 s.
	eventHoldBack = 5 * time.Second
	// eventSeriesWindow is how long a repeat of an event (same object,
	// reason and message) raises the count of the one already written
	// instead of writing a new one, as kubectl describe shows "(x5 over 2m)".
	eventSeriesWindow = 10 * time.Minute
	eventQueueLen     = 1024 // events waiting; more are dropped (best effort)
	eventSeriesMax    = 4096 // series remembered
)

// eventSink writes the kubelet's Events in order from one goroutine:
// a repeat within eventSeriesWindow patches count and lastTimestamp of the
// Event already written. Events are best effort: a full queue or a failed
// write drops one with a debug log.
type eventSink struct {
	client kubernetes.Interface
	busy   func() bool // pods are being created: hold events back
	log    *slog.Logger
	queue  chan *v1.Event

	mu     sync.Mutex
	series map[string]*eventSeries
}

type eventSeries struct {
	name  string // the Event written for the series
	count int32
	last  time.Time
}

func newEventSink(client kubernetes.Interface, busy func() bool, log *slog.Logger) *eventSink {
	s := &eventSink{client: client, busy: busy, log: log, queue: make(chan *v1.Event, eventQueueLen), series: map[string]*eventSeries{}}
	go s.run()
	return s
}

// events returns the kubelet's event sink, started on first use.
func (k *Kubelet) events() *eventSink {
	k.eventsOnce.Do(func() {
		log := k.log
		if log == nil {
			log = slog.Default()
		}
		k.eventSink = newEventSink(k.cfg.Client, func() bool { return len(k.createSlots) > 0 }, log)
	})
	return k.eventSink
}

// record queues an Event about pod (fieldPath names a container, or "").
func (s *eventSink) record(pod *v1.Pod, fieldPath, typ, reason, msg string, node string) {
	now := metav1.Now()
	ev := &v1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      pod.Name + "." + strconv.FormatInt(now.UnixNano(), 16),
			Namespace: pod.Namespace,
		},
		InvolvedObject: v1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion, FieldPath: fieldPath,
		},
		Reason: reason, Message: msg, Type: typ, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
		Source:              v1.EventSource{Component: "kubelet", Host: node},
		ReportingController: "kubelet", ReportingInstance: node,
	}
	select {
	case s.queue <- ev:
	default:
		s.log.Debug("event queue full; dropping event", "reason", reason, "pod", pod.Namespace+"/"+pod.Name)
	}
}

func (s *eventSink) run() {
	for ev := range s.queue {
		for s.busy != nil && s.busy() && time.Since(ev.FirstTimestamp.Time) < eventHoldBack {
			time.Sleep(20 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.write(ctx, ev); err != nil {
			s.log.Debug("record event", "reason", ev.Reason, "pod", ev.Namespace+"/"+ev.InvolvedObject.Name, "err", err)
		}
		cancel()
	}
}

func seriesKey(ev *v1.Event) string {
	o := ev.InvolvedObject
	return string(o.UID) + "\x00" + o.FieldPath + "\x00" + ev.Type + "\x00" + ev.Reason + "\x00" + ev.Message
}

// write creates ev, or raises the count of its series' Event.
func (s *eventSink) write(ctx context.Context, ev *v1.Event) error {
	key := seriesKey(ev)
	s.mu.Lock()
	sr := s.series[key]
	s.mu.Unlock()
	if sr != nil && ev.LastTimestamp.Sub(sr.last) < eventSeriesWindow {
		patch, _ := json.Marshal(map[string]any{"count": sr.count + 1, "lastTimestamp": ev.LastTimestamp})
		_, err := s.client.CoreV1().Events(ev.Namespace).Patch(ctx, sr.name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			s.mu.Lock()
			sr.count++
			sr.last = ev.LastTimestamp.Time
			s.mu.Unlock()
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		// The Event expired (its TTL passed): start a new series.
	}
	out, err := s.client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.series) >= eventSeriesMax {
		for k, old := range s.series {
			if ev.LastTimestamp.Sub(old.last) >= eventSeriesWindow || len(s.series) >= eventSeriesMax {
				delete(s.series, k)
			}
		}
	}
	s.series[key] = &eventSeries{name: out.Name, count: 1, last: ev.LastTimestamp.Time}
	return nil
}
