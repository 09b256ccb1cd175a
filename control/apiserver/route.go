package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// request is a parsed resource URL.
type request struct {
	res       *Resource
	namespace string
	name      string
	sub       string
}

// serveResource handles everything under /api/ and /apis/.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group, version string
	var rest []string
	switch {
	case segs[0] == "api" && len(segs) >= 2:
		group, version, rest = "", segs[1], segs[2:]
	case segs[0] == "apis" && len(segs) == 2:
		s.serveGroup(w, segs[1])
		return
	case segs[0] == "apis" && len(segs) >= 3:
		group, version, rest = segs[1], segs[2], segs[3:]
	default:
		writeError(w, apierrors.NewNotFound(schemaGR("", ""), r.URL.Path))
		return
	}
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			writeError(w, apierrors.NewMethodNotSupported(schemaGR(group, ""), r.Method))
			return
		}
		list := resourceList(group, version)
		if list == nil {
			writeError(w, apierrors.NewNotFound(schemaGR(group, ""), version))
			return
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	req := request{}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		if res := lookup(group, version, rest[2]); res != nil && res.Namespaced {
			req.namespace = rest[1]
			rest = rest[2:]
		}
	}
	req.res = lookup(group, version, rest[0])
	if req.res == nil || len(rest) > 3 {
		writeError(w, apierrors.NewNotFound(schemaGR(group, rest[0]), ""))
		return
	}
	if len(rest) >= 2 {
		req.name = rest[1]
	}
	if len(rest) == 3 {
		req.sub = rest[2]
		if !req.res.hasSub(req.sub) {
			writeError(w, apierrors.NewNotFound(schemaGR(group, req.res.Name+"/"+req.sub), req.name))
			return
		}
	}
	if req.res.Namespaced && req.namespace == "" && (req.name != "" || r.Method == http.MethodPost) {
		writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		return
	}
	s.dispatch(w, r, &req)
}

func (s *Server) serveGroup(w http.ResponseWriter, group string) {
	for _, g := range groups() {
		if g == group {
			gv := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
			writeJSON(w, http.StatusOK, &metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
				Name: g, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
			return
		}
	}
	writeError(w, apierrors.NewNotFound(schemaGR(group, ""), ""))
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	if err := s.authorize(r, req); err != nil {
		writeError(w, err)
		return
	}
	if req.res.Group == "" && req.res.Name == "pods" && req.name != "" && kubeletSubresources[req.sub] {
		s.handleKubeletSub(w, r, req)
		return
	}
	if req.res.Virtual {
		if r.Method != http.MethodPost || req.name != "" {
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
			return
		}
		s.handleVirtualCreate(w, r, req)
		return
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case req.name == "" && (q.Get("watch") == "true" || q.Get("watch") == "1"):
			s.handleWatch(w, r, req)
		case req.name == "":
			s.handleList(w, r, req)
		case req.sub == "scale":
			s.handleGetScale(w, r, req)
		case req.sub == "" || req.sub == "status":
			s.handleGet(w, r, req)
		default:
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		}
	case http.MethodPost:
		switch {
		case req.name == "":
			s.handleCreate(w, r, req)
		case req.sub == "binding":
			s.handleBinding(w, r, req)
		case req.sub == "eviction":
			s.handleEviction(w, r, req)
		case req.sub == "token":
			s.handleTokenRequest(w, r, req)
		default:
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		}
	case http.MethodPut:
		switch {
		case req.name == "":
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		case req.sub == "scale":
			s.handlePutScale(w, r, req)
		case req.sub == "" || req.sub == "status" || req.sub == "finalize":
			s.handleUpdate(w, r, req)
		default:
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		}
	case http.MethodPatch:
		switch {
		case req.name == "":
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		case req.sub == "scale":
			s.handlePatchScale(w, r, req)
		case req.sub == "" || req.sub == "status":
			s.handlePatch(w, r, req)
		default:
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		}
	case http.MethodDelete:
		switch {
		case req.sub != "":
			writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
		case req.name == "":
			s.handleDeleteCollection(w, r, req)
		default:
			s.handleDelete(w, r, req)
		}
	default:
		writeError(w, apierrors.NewMethodNotSupported(req.res.GR(), r.Method))
	}
}
