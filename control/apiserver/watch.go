package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffnet/skiff/control/apiserver/printers"
	"github.com/skiffnet/skiff/control/storage"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
var bookmarkInterval = time.Minute

type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	sel, err := parseSelector(r, req.res)
	if err != nil {
		writeError(w, err)
		return
	}
	timeout := s.MaxWatch
	if t := q.Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			writeError(w, apierrors.NewBadRequest("timeoutSeconds must be a non-negative integer"))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var initial []runtime.Object
	var from int64
	rv := q.Get("resourceVersion")
	sendInitial := q.Get("sendInitialEvents") == "true"
	if rv == "" || rv == "0" || sendInitial {
		lr, err := s.Store.List(ctx, storage.Prefix(req.res.Name, req.namespace), storage.ListOptions{Filter: sel.matches}, req.res.New)
		if err != nil {
			writeError(w, storageErr(err, req.res, ""))
			return
		}
		initial, from = lr.Items, lr.Revision
	} else {
		from, err = strconv.ParseInt(rv, 10, 64)
		if err != nil || from < 0 {
			writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv)))
			return
		}
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	wopts := storage.WatchOptions{}
	if bookmarks {
		wopts.BookmarkInterval = bookmarkInterval
	}
	events := s.Store.Watch(ctx, storage.Prefix(req.res.Name, req.namespace), from, wopts, req.res.New)

	asTable := wantsTable(r)
	topts := tableOptions(r)
	first := true
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	write := func(typ string, obj runtime.Object) bool {
		var payload any = obj
		if obj != nil {
			setKind(req.res, obj)
			if asTable && typ != "BOOKMARK" {
				topts.NoHeaders = !first
				t, err := printers.ToTable(obj, topts)
				if err != nil {
					s.Log.Warn("table for watch event", "resource", req.res.Name, "err", err)
					return false
				}
				t.Kind, t.APIVersion = "Table", "meta.k8s.io/v1"
				payload = t
				first = false
			}
		}
		if err := enc.Encode(watchEvent{Type: typ, Object: payload}); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for _, obj := range initial {
		if !write("ADDED", obj) {
			return
		}
	}
	if sendInitial && bookmarks {
		bm := req.res.New()
		acc, _ := meta.Accessor(bm)
		acc.SetResourceVersion(strconv.FormatInt(from, 10))
		acc.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		if !write("BOOKMARK", bm) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch ev.Type {
			case storage.Error:
				var st *metav1.Status
				if errors.Is(ev.Err, storage.ErrCompacted) {
					se := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d", from))
					st = &se.ErrStatus
				} else {
					se := apierrors.NewInternalError(ev.Err)
					st = &se.ErrStatus
				}
				st.Kind, st.APIVersion = "Status", "v1"
				enc.Encode(watchEvent{Type: "ERROR", Object: st})
				if flusher != nil {
					flusher.Flush()
				}
				return
			case storage.Bookmark:
				bm := req.res.New()
				acc, _ := meta.Accessor(bm)
				acc.SetResourceVersion(strconv.FormatInt(ev.Revision, 10))
				if !write("BOOKMARK", bm) {
					return
				}
			default:
				typ := string(ev.Type)
				if !sel.empty() {
					now := sel.matches(ev.Object)
					before := ev.Type == storage.Modified && ev.PrevObject != nil && sel.matches(ev.PrevObject)
					switch {
					case ev.Type != storage.Modified && !now:
						continue
					case ev.Type == storage.Modified && now && !before:
						typ = "ADDED"
					case ev.Type == storage.Modified && !now && before:
						typ = "DELETED"
					case ev.Type == storage.Modified && !now:
						continue
					}
				}
				obj := ev.Object
				if ev.Shared {
					obj = obj.DeepCopyObject() // write sets its kind
				}
				if !write(typ, obj) {
					return
				}
			}
		}
	}
}
