package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// user is the identity from a verified client certificate: CN is the user
// name, O the groups.
type user struct {
	Name   string
	Groups []string
}

func userOf(r *http.Request) user {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return user{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}
	}
	c := r.TLS.PeerCertificates[0]
	return user{Name: c.Subject.CommonName, Groups: append(append([]string{}, c.Subject.Organization...), "system:authenticated")}
}

func (u user) isMaster() bool {
	for _, g := range u.Groups {
		if g == "system:masters" {
			return true
		}
	}
	return false
}

// selfSubjectAccessReview answers `kubectl auth can-i` with the same rules
// as authorize.
func selfSubjectAccessReview(s *Server, r *http.Request, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.SelfSubjectAccessReview)
	u := userOf(r)
	ra := sar.Spec.ResourceAttributes
	switch {
	case u.isMaster():
		sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "member of system:masters"}
	case ra != nil:
		res := lookup(ra.Group, "v1", ra.Resource)
		if res == nil {
			sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: false, Reason: "unknown resource"}
			break
		}
		method := map[string]string{"get": "GET", "list": "GET", "watch": "GET", "create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE"}[ra.Verb]
		fake, _ := http.NewRequestWithContext(r.Context(), method, "/", nil)
		fake.TLS = r.TLS
		if ra.Verb == "watch" {
			fake.URL.RawQuery = "watch=true"
		}
		err := s.authorize(fake, &request{res: res, namespace: ra.Namespace, name: ra.Name, sub: ra.Subresource})
		sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: err == nil}
		if err != nil {
			sar.Status.Reason = err.Error()
		}
	default:
		sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: false, Reason: "only system:masters may use non-resource URLs"}
	}
	return sar, nil
}

func (s *Server) handleVirtualCreate(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj := req.res.New()
	if err := decodeBody(w, r, body, req.res.GVK(), obj); err != nil {
		writeError(w, err)
		return
	}
	out, err := req.res.Create(s, r, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	setKind(req.res, out)
	writeJSON(w, http.StatusCreated, out)
}

// nodeName returns n for a node identity (user system:node:<n> in group
// system:nodes), or "".
func (u user) nodeName() string {
	n, ok := strings.CutPrefix(u.Name, "system:node:")
	if !ok || n == "" {
		return ""
	}
	for _, g := range u.Groups {
		if g == "system:nodes" {
			return n
		}
	}
	return ""
}

func verbOf(r *http.Request, req *request) string {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		if req.name == "" && (q.Get("watch") == "true" || q.Get("watch") == "1") {
			return "watch"
		}
		if req.name == "" {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if req.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// authorize lets system:masters do everything. A node identity may read
// everything except pods' log, exec, attach and portforward (which reach
// into other nodes' containers), and write only its own Node (and status),
// its Lease in kube-node-lease, the status of and deletion of pods bound to
// it, and events. Every other identity is refused with 403.
func (s *Server) authorize(r *http.Request, req *request) error {
	u := userOf(r)
	if u.isMaster() {
		return nil
	}
	verb := verbOf(r, req)
	res := req.res
	if res.Virtual {
		return nil
	}
	if node := u.nodeName(); node != "" && !(res.Name == "pods" && kubeletSubresources[req.sub]) {
		switch {
		case verb == "get" || verb == "list" || verb == "watch":
			return nil
		case res.Name == "nodes" && req.name == node && verb != "deletecollection":
			return nil
		case res.Name == "nodes" && verb == "create":
			return nil // checked against the body's name in create
		case res.Name == "leases" && req.namespace == "kube-node-lease" && (req.name == node || verb == "create"):
			return nil
		case res.Name == "events" && (verb == "create" || verb == "patch" || verb == "update"):
			return nil
		case res.Name == "pods" && req.name != "" && (req.sub == "status" || (req.sub == "" && verb == "delete")):
			var pod corev1.Pod
			if _, err := s.Store.Get(r.Context(), s.key(res, req.namespace, req.name), &pod); err == nil && pod.Spec.NodeName == node {
				return nil
			}
		}
	}
	what := res.Name
	if req.sub != "" {
		what += "/" + req.sub
	}
	scope := "at the cluster scope"
	if req.namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", req.namespace)
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: res.Group, Resource: what}, req.name,
		fmt.Errorf("User %q cannot %s resource %q in API group %q %s", u.Name, verb, what, res.Group, scope))
}

// nodeCreateAllowed checks that a node identity creates only objects named after itself.
func nodeCreateAllowed(r *http.Request, res *Resource, name string) error {
	u := userOf(r)
	node := u.nodeName()
	if u.isMaster() || node == "" || (res.Name != "nodes" && res.Name != "leases") || name == node {
		return nil
	}
	return apierrors.NewForbidden(res.GR(), name, fmt.Errorf("User %q may only create its own %s", u.Name, res.Name))
}
