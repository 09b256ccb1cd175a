package storage

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// EventType names a watch event as Kubernetes does.
type EventType string

// Watch event types.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
	Error    EventType = "ERROR"
)

// Event is one change. For Deleted, Object is the last stored state with
// the deletion revision as its resourceVersion. For Error, Err is set
// (ErrCompacted when the start revision is gone).
type Event struct {
	Type   EventType
	Object runtime.Object
	// PrevObject is the state before a Modified event.
	PrevObject runtime.Object
	Revision   int64
	Err        error
	// Shared: Object and PrevObject are shared with other watchers; copy
	// them (DeepCopyObject) before changing anything.
	Shared bool
}

// WatchOptions tune a watch.
type WatchOptions struct {
	// BookmarkInterval, when > 0, sends a Bookmark event carrying the latest
	// seen revision this often.
	BookmarkInterval time.Duration
}

// Watch streams the changes under prefix after revision rev (events with
// revision > rev). rev 0 means from now. The channel closes when ctx ends or
// after an Error event.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64, opts WatchOptions, newItem func() runtime.Object) <-chan Event {
	out := make(chan Event, 100)
	go func() {
		defer close(out)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		wopts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithProgressNotify()}
		if rev > 0 {
			wopts = append(wopts, clientv3.WithRev(rev+1))
		}
		wch := s.Client.Watch(wctx, prefix, wopts...)
		last := rev
		var tick <-chan time.Time
		if opts.BookmarkInterval > 0 {
			t := time.NewTicker(opts.BookmarkInterval)
			defer t.Stop()
			tick = t.C
		}
		send := func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				if last > 0 && !send(Event{Type: Bookmark, Revision: last}) {
					return
				}
			case wr, ok := <-wch:
				if !ok {
					return
				}
				if err := wr.Err(); err != nil {
					if wr.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
						err = ErrCompacted
					}
					send(Event{Type: Error, Err: err})
					return
				}
				if wr.IsProgressNotify() {
					if wr.Header.Revision > last {
						last = wr.Header.Revision
					}
					continue
				}
				for _, e := range wr.Events {
					ev, err := s.convert(e, newItem)
					if err != nil {
						send(Event{Type: Error, Err: err})
						return
					}
					last = ev.Revision
					if !send(ev) {
						return
					}
				}
			}
		}
	}()
	return out
}

func (s *Store) convert(e *clientv3.Event, newItem func() runtime.Object) (Event, error) {
	key := string(e.Kv.Key)
	switch {
	case e.Type == mvccpb.DELETE:
		if e.PrevKv == nil {
			return Event{}, errors.New("storage: delete event without previous value")
		}
		obj, err := s.watched.get(s, key, e.PrevKv.Value, e.Kv.ModRevision, newItem)
		if err != nil {
			return Event{}, err
		}
		return Event{Type: Deleted, Object: obj, Revision: e.Kv.ModRevision, Shared: true}, nil
	case e.IsCreate():
		obj, err := s.watched.get(s, key, e.Kv.Value, e.Kv.ModRevision, newItem)
		if err != nil {
			return Event{}, err
		}
		return Event{Type: Added, Object: obj, Revision: e.Kv.ModRevision, Shared: true}, nil
	default:
		obj, err := s.watched.get(s, key, e.Kv.Value, e.Kv.ModRevision, newItem)
		if err != nil {
			return Event{}, err
		}
		ev := Event{Type: Modified, Object: obj, Revision: e.Kv.ModRevision, Shared: true}
		if e.PrevKv != nil {
			if prev, err := s.watched.get(s, key, e.PrevKv.Value, e.PrevKv.ModRevision, newItem); err == nil {
				ev.PrevObject = prev
			}
		}
		return ev, nil
	}
}

// Compact discards history before rev.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.Client.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return err
}
