package openapi

import (
	"reflect"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PatchContentTypes are the request bodies every PATCH operation accepts.
var PatchContentTypes = []string{
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/apply-patch+yaml",
}

// param is one operation parameter, written out per document flavour.
type param struct {
	name, in, typ, desc string
	required            bool
}

var (
	pName      = param{"name", "path", "string", "name of the object", true}
	pNamespace = param{"namespace", "path", "string", "object name and auth scope, such as for teams and projects", true}
	pPretty    = param{"pretty", "query", "string", "If 'true', then the output is pretty printed.", false}
	pDryRun    = param{"dryRun", "query", "string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed", false}
	pManager   = param{"fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes.", false}
	pFieldVal  = param{"fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.", false}
	pForce     = param{"force", "query", "boolean", "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests.", false}
	listParams = []param{
		{"allowWatchBookmarks", "query", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", false},
		{"continue", "query", "string", "The continue option should be set when retrieving more results from the server.", false},
		{"fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything.", false},
		{"labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything.", false},
		{"limit", "query", "integer", "limit is a maximum number of responses to return for a list call.", false},
		{"resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from.", false},
		{"resourceVersionMatch", "query", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls.", false},
		{"sendInitialEvents", "query", "boolean", "sendInitialEvents=true may be set together with watch=true.", false},
		{"timeoutSeconds", "query", "integer", "Timeout for the list/watch call.", false},
		{"watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.", false},
	}
	deleteParams = []param{
		{"gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted.", false},
		{"propagationPolicy", "query", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground.", false},
		{"orphanDependents", "query", "boolean", "Deprecated: please use the PropagationPolicy.", false},
	}
)

// op describes one operation before it is written for v2 or v3.
type op struct {
	method, id, action, desc string
	params                   []param
	body                     reflect.Type // request body; nil for none
	patch                    bool
	resp                     reflect.Type // nil: a plain string reply
	created                  bool         // 201 possible
	gvk                      map[string]any
}

// gvToken is the operation-ID fragment for a group-version: CoreV1, AppsV1,
// DiscoveryV1, CoordinationV1.
func gvToken(group, version string) string {
	g := "core"
	if group != "" {
		g = strings.Split(group, ".")[0]
	}
	return upper(g) + upper(version)
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func typeOf(obj runtime.Object) reflect.Type {
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func gvkExt(group, version, kind string) map[string]any {
	return map[string]any{"group": group, "version": version, "kind": kind}
}

// kindPaths returns path → operations for one kind.
func kindPaths(k Kind) map[string][]op {
	g, v, kind := k.GVK.Group, k.GVK.Version, k.GVK.Kind
	base := "/api/" + v
	if g != "" {
		base = "/apis/" + g + "/" + v
	}
	tok := gvToken(g, v)
	scope := ""
	coll := base + "/" + k.Resource
	common := []param{pPretty}
	if k.Namespaced {
		scope = "Namespaced"
		coll = base + "/namespaces/{namespace}/" + k.Resource
		common = []param{pNamespace, pPretty}
	}
	item := coll + "/{name}"
	itemParams := append([]param{pName}, common...)
	obj, list := typeOf(k.Object), typeOf(k.ListObject)
	status := reflect.TypeOf(metav1.Status{})
	delOpts := reflect.TypeOf(metav1.DeleteOptions{})
	patch := reflect.TypeOf(metav1.Patch{})
	gvk := gvkExt(g, v, kind)
	write := []param{pDryRun, pManager, pFieldVal}
	paths := map[string][]op{}

	paths[coll] = []op{
		{method: "get", id: "list" + tok + scope + kind, action: "list", desc: "list or watch objects of kind " + kind,
			params: append(append([]param{}, common...), listParams...), resp: list, gvk: gvk},
		{method: "post", id: "create" + tok + scope + kind, action: "post", desc: "create a " + kind,
			params: append(append([]param{}, common...), write...), body: obj, resp: obj, created: true, gvk: gvk},
		{method: "delete", id: "deletecollection" + tok + scope + kind, action: "deletecollection", desc: "delete collection of " + kind,
			params: append(append(append([]param{}, common...), listParams...), append([]param{pDryRun}, deleteParams...)...),
			body:   delOpts, resp: status, gvk: gvk},
	}
	paths[item] = []op{
		{method: "get", id: "read" + tok + scope + kind, action: "get", desc: "read the specified " + kind,
			params: itemParams, resp: obj, gvk: gvk},
		{method: "put", id: "replace" + tok + scope + kind, action: "put", desc: "replace the specified " + kind,
			params: append(append([]param{}, itemParams...), write...), body: obj, resp: obj, created: true, gvk: gvk},
		{method: "patch", id: "patch" + tok + scope + kind, action: "patch", desc: "partially update the specified " + kind,
			params: append(append([]param{}, itemParams...), append(write, pForce)...), body: patch, patch: true, resp: obj, created: true, gvk: gvk},
		{method: "delete", id: "delete" + tok + scope + kind, action: "delete", desc: "delete a " + kind,
			params: append(append(append([]param{}, itemParams...), pDryRun), deleteParams...), body: delOpts, resp: obj, gvk: gvk},
	}
	if k.Namespaced {
		paths[base+"/"+k.Resource] = []op{
			{method: "get", id: "list" + tok + kind + "ForAllNamespaces", action: "list", desc: "list or watch objects of kind " + kind,
				params: append([]param{pPretty}, listParams...), resp: list, gvk: gvk},
		}
	}
	for _, sub := range k.Subresources {
		p := item + "/" + sub
		switch sub {
		case "status", "scale":
			t, sgvk, suffix := obj, gvk, "Status"
			if sub == "scale" {
				t, sgvk, suffix = reflect.TypeOf(autoscalingv1.Scale{}), gvkExt("autoscaling", "v1", "Scale"), "Scale"
			}
			paths[p] = []op{
				{method: "get", id: "read" + tok + scope + kind + suffix, action: "get", desc: "read " + sub + " of the specified " + kind,
					params: itemParams, resp: t, gvk: sgvk},
				{method: "put", id: "replace" + tok + scope + kind + suffix, action: "put", desc: "replace " + sub + " of the specified " + kind,
					params: append(append([]param{}, itemParams...), write...), body: t, resp: t, created: true, gvk: sgvk},
				{method: "patch", id: "patch" + tok + scope + kind + suffix, action: "patch", desc: "partially update " + sub + " of the specified " + kind,
					params: append(append([]param{}, itemParams...), append(write, pForce)...), body: patch, patch: true, resp: t, created: true, gvk: sgvk},
			}
		case "binding", "eviction", "token":
			t, sgvk, suffix := reflect.TypeOf(corev1.Binding{}), gvkExt("", "v1", "Binding"), "Binding"
			switch sub {
			case "eviction":
				t, sgvk, suffix = reflect.TypeOf(policyv1.Eviction{}), gvkExt("policy", "v1", "Eviction"), "Eviction"
			case "token":
				t, sgvk, suffix = reflect.TypeOf(authenticationv1.TokenRequest{}), gvkExt("authentication.k8s.io", "v1", "TokenRequest"), "Token"
			}
			paths[p] = []op{
				{method: "post", id: "create" + tok + scope + kind + suffix, action: "post", desc: "create " + sub + " of a " + kind,
					params: append(append([]param{}, itemParams...), write...), body: t, resp: t, created: true, gvk: sgvk},
			}
		case "log":
			paths[p] = []op{
				{method: "get", id: "read" + tok + scope + kind + "Log", action: "get", desc: "read log of the specified " + kind,
					params: append(append([]param{}, itemParams...),
						param{"container", "query", "string", "The container for which to stream logs.", false},
						param{"follow", "query", "boolean", "Follow the log stream of the pod.", false},
						param{"previous", "query", "boolean", "Return previous terminated container logs.", false},
						param{"sinceSeconds", "query", "integer", "A relative time in seconds before the current time from which to show logs.", false},
						param{"tailLines", "query", "integer", "The number of lines from the end of the logs to show.", false},
						param{"timestamps", "query", "boolean", "Add an RFC3339 timestamp at the beginning of every line.", false},
						param{"limitBytes", "query", "integer", "The number of bytes to read from the server before terminating the log output.", false}),
					gvk: gvk},
			}
		default: // exec, attach, portforward, proxy: connect operations
			token := upper(sub)
			if sub == "portforward" {
				token = "Portforward"
			}
			paths[p] = []op{
				{method: "get", id: "connect" + tok + "Get" + scope + kind + token, action: "connect", desc: "connect GET requests to " + sub + " of " + kind,
					params: itemParams, gvk: gvk},
				{method: "post", id: "connect" + tok + "Post" + scope + kind + token, action: "connect", desc: "connect POST requests to " + sub + " of " + kind,
					params: itemParams, gvk: gvk},
			}
		}
	}
	return paths
}

// bodyTypes lists the Go types an operation list refers to, so their
// definitions can be generated.
func bodyTypes(ops map[string][]op) []reflect.Type {
	var ts []reflect.Type
	for _, list := range ops {
		for _, o := range list {
			if o.body != nil {
				ts = append(ts, o.body)
			}
			if o.resp != nil {
				ts = append(ts, o.resp)
			}
		}
	}
	return ts
}
