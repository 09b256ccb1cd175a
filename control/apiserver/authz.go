package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffnet/skiff/control/storage"
)

// user is the identity of a request: from a verified client certificate
// (CN is the user name, O the groups) or, without one, from a verified
// service-account bearer token (authn.go).
type user struct {
	Name   string
	Groups []string
}

func userOf(r *http.Request) user {
	if u, ok := r.Context().Value(userKey{}).(user); ok {
		return u
	}
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

// selfSubjectReview answers `kubectl auth whoami`: the identity the
// request authenticated as (client certificate or service-account token).
func selfSubjectReview(_ *Server, r *http.Request, obj runtime.Object) (runtime.Object, error) {
	ssr := obj.(*authenticationv1.SelfSubjectReview)
	u := userOf(r)
	ssr.Status.UserInfo = authenticationv1.UserInfo{Username: u.Name, Groups: append([]string(nil), u.Groups...)}
	return ssr, nil
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

// authorize is Skiff's fixed policy (there is no RBAC):
//   - system:masters may do everything.
//   - A node identity (system:node:<n> in system:nodes) may read everything
//     except pods' log, exec, attach and portforward (which reach into
//     other nodes' containers), and write only its own Node (and status),
//     its Lease in kube-node-lease, the status of and deletion of pods
//     bound to it, and events. It may create serviceaccounts/token, which
//     the TokenRequest handler limits to tokens bound to a pod on its node
//     running as that service account (nodeTokenAllowed).
//   - A service account (system:serviceaccount:<ns>:<name>) may get, list
//     and watch every resource in its own namespace except secrets (the
//     objects and their status and scale, not pods' log, exec, attach or
//     portforward), and nothing at the cluster scope.
//   - Everyone may use the virtual review resources (SelfSubjectAccessReview,
//     answered with these rules); discovery, OpenAPI and /version are not
//     checked here.
//
// Everything else is refused with a 403 Status shaped as Kubernetes'.
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
	if saNS, _, ok := u.serviceAccount(); ok && req.namespace == saNS && res.Namespaced && !(res.Group == "" && res.Name == "secrets") &&
		(verb == "get" || verb == "list" || verb == "watch") && (req.sub == "" || req.sub == "status" || req.sub == "scale") {
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
		case res.Group == "" && res.Name == "serviceaccounts" && req.sub == "token" && verb == "create":
			return nil // limited to its own pods' tokens by nodeTokenAllowed
		case res.Name == "pods" && req.name == "" && req.sub == "" && verb == "create":
			return nil // only mirror pods bound to this node: checked against the body in create
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

// nodeCreateAllowed checks what a node identity creates: Nodes and Leases
// only named after itself, and Pods only as mirror pods of its static pods.
func (s *Server) nodeCreateAllowed(r *http.Request, res *Resource, obj runtime.Object) error {
	u := userOf(r)
	node := u.nodeName()
	if u.isMaster() || node == "" {
		return nil
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	name := acc.GetName()
	switch res.Name {
	case "nodes", "leases":
		if name != node {
			return apierrors.NewForbidden(res.GR(), name, fmt.Errorf("User %q may only create its own %s", u.Name, res.Name))
		}
	case "pods":
		if pod, ok := obj.(*corev1.Pod); ok {
			if why := s.mirrorPodRefusal(r, node, pod); why != "" {
				return apierrors.NewForbidden(res.GR(), name, fmt.Errorf("User %q may only create mirror pods bound to its node: %s", u.Name, why))
			}
		}
	}
	return nil
}

// mirrorPodRefusal says why node may not create pod, or "" if it may. Like
// Kubernetes' NodeRestriction admission: a node creates only mirror pods
// (the kubernetes.io/config.mirror annotation) bound to itself, owned by
// nothing but its own Node, and using no service account, Secret,
// ConfigMap or PersistentVolumeClaim (which would let it read them).
func (s *Server) mirrorPodRefusal(r *http.Request, node string, pod *corev1.Pod) string {
	if _, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
		return "the pod has no " + corev1.MirrorPodAnnotationKey + " annotation"
	}
	if pod.Spec.NodeName != node {
		return fmt.Sprintf("spec.nodeName is %q, not %q", pod.Spec.NodeName, node)
	}
	if pod.Spec.ServiceAccountName != "" {
		return "mirror pods may not use a service account (spec.serviceAccountName)"
	}
	switch refs := pod.OwnerReferences; {
	case len(refs) > 1:
		return "a mirror pod may have only its Node as owner"
	case len(refs) == 1:
		o := refs[0]
		if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != node {
			return fmt.Sprintf("the owner of a mirror pod must be Node %q, not %s %s %q", node, o.APIVersion, o.Kind, o.Name)
		}
		var n corev1.Node
		if _, err := s.Store.Get(r.Context(), storage.Key("nodes", "", node), &n); err != nil || n.UID != o.UID {
			return fmt.Sprintf("the owner reference's uid %q is not the uid of Node %q", o.UID, node)
		}
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			return fmt.Sprintf("volume %q refers to a Secret", v.Name)
		case v.ConfigMap != nil:
			return fmt.Sprintf("volume %q refers to a ConfigMap", v.Name)
		case v.PersistentVolumeClaim != nil || v.Ephemeral != nil:
			return fmt.Sprintf("volume %q refers to a PersistentVolumeClaim", v.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil || src.ConfigMap != nil || src.ServiceAccountToken != nil || src.ClusterTrustBundle != nil {
					return fmt.Sprintf("projected volume %q refers to a Secret, ConfigMap, service account token or trust bundle", v.Name)
				}
			}
		}
	}
	all := append(append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...), ephemeralAsContainers(pod.Spec.EphemeralContainers)...)
	for _, c := range all {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil || e.ConfigMapRef != nil {
				return fmt.Sprintf("container %q takes envFrom a Secret or ConfigMap", c.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) {
				return fmt.Sprintf("container %q env %q refers to a Secret or ConfigMap", c.Name, e.Name)
			}
		}
	}
	return ""
}

func ephemeralAsContainers(ecs []corev1.EphemeralContainer) []corev1.Container {
	out := make([]corev1.Container, 0, len(ecs))
	for _, e := range ecs {
		out = append(out, corev1.Container(e.EphemeralContainerCommon))
	}
	return out
}
