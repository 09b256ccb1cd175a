package apiserver

import (
	"net/http"
	"runtime"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sversion "k8s.io/apimachinery/pkg/version"

	"github.com/skiffnet/skiff/internal/version"
)

func schemaGR(group, resource string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: resource}
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, k8sversion.Info{
		Major: version.KubeMajor, Minor: version.KubeMinor, GitVersion: version.Kubernetes,
		GitCommit: version.Skiff, GitTreeState: "clean", BuildDate: "1970-01-01T00:00:00Z",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
}

// groups lists the served API groups (not the legacy core group) in a
// stable order, with the extra policy and autoscaling groups that only
// carry subresource kinds.
func groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range Resources {
		if r.Group != "" && !seen[r.Group] {
			seen[r.Group] = true
			out = append(out, r.Group)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range groups() {
		gv := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
		list.Groups = append(list.Groups, metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
	}
	writeJSON(w, http.StatusOK, list)
}

var verbsFull = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// resourceList is the discovery document of one group-version, or nil.
func resourceList(group, version string) *metav1.APIResourceList {
	gv := version
	if group != "" {
		gv = group + "/" + version
	}
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv, APIResources: []metav1.APIResource{}}
	found := false
	for _, r := range Resources {
		if r.Group != group || r.Version != version {
			continue
		}
		found = true
		verbs := verbsFull
		if r.Virtual {
			verbs = metav1.Verbs{"create"}
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Name, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: verbs, ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range r.Subresources {
			ar := metav1.APIResource{Name: r.Name + "/" + sub, Namespaced: r.Namespaced, Kind: r.Kind}
			switch sub {
			case "status":
				ar.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "scale":
				ar.Group, ar.Version, ar.Kind = "autoscaling", "v1", "Scale"
				ar.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "binding":
				ar.Kind = "Binding"
				ar.Verbs = metav1.Verbs{"create"}
			case "eviction":
				ar.Group, ar.Version, ar.Kind = "policy", "v1", "Eviction"
				ar.Verbs = metav1.Verbs{"create"}
			case "token":
				ar.Group, ar.Version, ar.Kind = "authentication.k8s.io", "v1", "TokenRequest"
				ar.Verbs = metav1.Verbs{"create"}
			case "finalize":
				ar.Verbs = metav1.Verbs{"update"}
			case "log":
				ar.Verbs = metav1.Verbs{"get"}
			case "exec", "attach", "portforward":
				ar.Kind = map[string]string{"exec": "PodExecOptions", "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions"}[sub]
				ar.Verbs = metav1.Verbs{"create", "get"}
			default:
				continue
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	if !found {
		return nil
	}
	return list
}
