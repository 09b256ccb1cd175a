package apiserver

import (
	"context"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffnet/skiff/control/storage"
)

func (s *Server) key(res *Resource, ns, name string) string {
	return storage.Key(res.Name, ns, name)
}

// getObject reads one object and its mod revision.
func (s *Server) getObject(ctx context.Context, res *Resource, ns, name string) (runtime.Object, int64, error) {
	obj := res.New()
	rev, err := s.Store.Get(ctx, s.key(res, ns, name), obj)
	if err != nil {
		return nil, 0, storageErr(err, res, name)
	}
	setKind(res, obj)
	return obj, rev, nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, req *request) {
	obj, _, err := s.getObject(r.Context(), req.res, req.namespace, req.name)
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusOK, req.res, obj)
}

// listObjects lists objects matching sel in ns ("" = all) with paging.
func (s *Server) listObjects(ctx context.Context, r *http.Request, res *Resource, ns string, sel *selector) (runtime.Object, error) {
	q := r.URL.Query()
	opts := storage.ListOptions{Continue: q.Get("continue")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return nil, apierrors.NewBadRequest("limit must be a non-negative integer")
		}
		opts.Limit = n
	}
	if rv := q.Get("resourceVersion"); rv != "" && rv != "0" && opts.Continue == "" && q.Get("resourceVersionMatch") == "Exact" {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("resourceVersion must be an integer")
		}
		opts.Revision = n
	}
	if !sel.empty() {
		opts.Filter = sel.matches
	}
	prefix := storage.Prefix(res.Name, ns)
	lr, err := s.Store.List(ctx, prefix, opts, res.New)
	if err != nil {
		return nil, storageErr(err, res, "")
	}
	list := res.NewList()
	if err := meta.SetList(list, lr.Items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(strconv.FormatInt(lr.Revision, 10))
	la.SetContinue(lr.Continue)
	la.SetRemainingItemCount(lr.Remaining)
	setKind(res, list)
	return list, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, req *request) {
	sel, err := parseSelector(r, req.res)
	if err != nil {
		writeError(w, err)
		return
	}
	list, err := s.listObjects(r.Context(), r, req.res, req.namespace, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusOK, req.res, list)
}
