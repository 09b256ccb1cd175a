package kubelet

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
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
	// A series is written at once up to eventSeriesEager times; after
	// that its count and lastTimestamp are written at most every
	// eventSeriesEvery, so a probe failing every second for hours costs
	// the API one write per series per interval, not one per failure.
	eventSeriesEager = 5
	eventSeriesEvery = 10 * time.Second
	eventQueueLen    = 1024 // events waiting; more are dropped (best effort)
	eventSeriesMax   = 4096 // series remembered
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
	series map[string]*eventSeries // only the run goroutine uses it

	holdBack, every time.Duration // eventHoldBack, eventSeriesEvery (tests shorten them)
}

type eventSeries struct {
	name      string // the Event written for the series
	namespace string
	count     int32     // as written
	pending   int32     // repeats not written yet
	last      time.Time // the latest repeat
	written   time.Time // when count was last written
}

func newEventSink(client kubernetes.Interface, busy func() bool, log *slog.Logger) *eventSink {
	return startEventSink(&eventSink{client: client, busy: busy, log: log, holdBack: eventHoldBack, every: eventSeriesEvery})
}

func startEventSink(s *eventSink) *eventSink {
	s.queue = make(chan *v1.Event, eventQueueLen)
	s.series = map[string]*eventSeries{}
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
	tick := time.NewTicker(s.every / 2)
	defer tick.Stop()
	for {
		select {
		case ev := <-s.queue:
			for s.busy != nil && s.busy() && time.Since(ev.FirstTimestamp.Time) < s.holdBack {
				time.Sleep(20 * time.Millisecond)
			}
			s.write(ev)
		case <-tick.C:
			s.flush()
		}
	}
}

func seriesKey(ev *v1.Event) string {
	o := ev.InvolvedObject
	return string(o.UID) + "\x00" + o.FieldPath + "\x00" + ev.Type + "\x00" + ev.Reason + "\x00" + ev.Message
}

// write creates ev, or counts it in its series and writes the count when
// the series is due.
func (s *eventSink) write(ev *v1.Event) {
	key := seriesKey(ev)
	if sr := s.series[key]; sr != nil && ev.LastTimestamp.Sub(sr.last) < eventSeriesWindow {
		sr.pending++
		sr.last = ev.LastTimestamp.Time
		if sr.count+sr.pending <= eventSeriesEager || time.Since(sr.written) >= s.every {
			if s.patch(sr) {
				return
			}
			// The Event expired (its TTL passed): start a new series.
			ev.Count = sr.pending
		} else {
			return // written by a later repeat or flush
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	if err != nil {
		s.log.Debug("record event", "reason", ev.Reason, "pod", ev.Namespace+"/"+ev.InvolvedObject.Name, "err", err)
		return
	}
	if len(s.series) >= eventSeriesMax {
		s.forgetOld(ev.LastTimestamp.Time)
	}
	s.series[key] = &eventSeries{name: out.Name, namespace: out.Namespace, count: out.Count, last: ev.LastTimestamp.Time, written: time.Now()}
}

// patch writes sr's count and lastTimestamp; false means its Event is gone.
func (s *eventSink) patch(sr *eventSeries) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"count": sr.count + sr.pending, "lastTimestamp": metav1.NewTime(sr.last)})
	_, err := s.client.CoreV1().Events(sr.namespace).Patch(ctx, sr.name, types.MergePatchType, body, metav1.PatchOptions{})
	switch {
	case err == nil:
		sr.count += sr.pending
		sr.pending = 0
		sr.written = time.Now()
	case apierrors.IsNotFound(err):
		return false
	default:
		s.log.Debug("record event", "event", sr.name, "err", err) // retried by flush
	}
	return true
}

// flush writes the counts of series whose repeats are waiting.
func (s *eventSink) flush() {
	for key, sr := range s.series {
		if sr.pending > 0 && time.Since(sr.written) >= s.every && !s.patch(sr) {
			delete(s.series, key)
		}
	}
}

// forgetOld drops series older than the window, or all when none is.
func (s *eventSink) forgetOld(now time.Time) {
	for k, sr := range s.series {
		if now.Sub(sr.last) >= eventSeriesWindow {
			delete(s.series, k)
		}
	}
	if len(s.series) >= eventSeriesMax {
		clear(s.series)
	}
}
