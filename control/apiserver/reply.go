package apiserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffnet/skiff/control/apiserver/printers"
	"github.com/skiffnet/skiff/control/storage"
)

func typesUID(s string) types.UID { return types.UID(s) }

// readBody reads at most 3 MiB; a larger body is a 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest("reading request body: " + err.Error())
	}
	if len(b) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBody))
	}
	return b, nil
}

// wantsTable reports whether the Accept header asks for a meta.k8s.io Table.
func wantsTable(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if strings.Contains(part, "as=Table") {
			return true
		}
		if strings.TrimSpace(part) == "application/json" {
			return false
		}
	}
	return false
}

func tableOptions(r *http.Request) printers.Options {
	return printers.Options{IncludeObject: metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))}
}

// reply writes a typed object or list, as a Table when asked.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, code int, res *Resource, obj runtime.Object) {
	setKind(res, obj)
	if wantsTable(r) {
		t, err := printers.ToTable(obj, tableOptions(r))
		if err != nil {
			writeError(w, apierrors.NewInternalError(err))
			return
		}
		t.Kind, t.APIVersion = "Table", "meta.k8s.io/v1"
		writeJSON(w, code, t)
		return
	}
	writeJSON(w, code, obj)
}

func setKind(res *Resource, obj runtime.Object) {
	gvk := res.GVK()
	if meta.IsListType(obj) {
		gvk.Kind += "List"
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

// storageErr maps storage errors to Kubernetes Status errors.
func storageErr(err error, res *Resource, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(res.GR(), name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(res.GR(), name)
	case errors.Is(err, storage.ErrConflict):
		return conflict(res, name)
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
	case errors.Is(err, storage.ErrBadContinue):
		return apierrors.NewBadRequest("continue key is not valid: " + err.Error())
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return err
	}
	return apierrors.NewInternalError(err)
}

func conflict(res *Resource, name string) error {
	return apierrors.NewConflict(res.GR(), name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// selector is a parsed labelSelector+fieldSelector pair.
type selector struct {
	labels labels.Selector
	fields fields.Selector
	res    *Resource
}

func parseSelector(r *http.Request, res *Resource) (*selector, error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	known := fieldSet(res, res.New())
	for _, req := range fs.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return &selector{labels: ls, fields: fs, res: res}, nil
}

func fieldSet(res *Resource, obj runtime.Object) fields.Set {
	acc, _ := meta.Accessor(obj)
	set := fields.Set{"metadata.name": acc.GetName()}
	if res.Namespaced {
		set["metadata.namespace"] = acc.GetNamespace()
	}
	if res.Fields != nil {
		for k, v := range res.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

func (sel *selector) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (sel *selector) matches(obj runtime.Object) bool {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !sel.labels.Matches(labels.Set(acc.GetLabels())) {
		return false
	}
	return sel.fields.Empty() || sel.fields.Matches(fieldSet(sel.res, obj))
}
