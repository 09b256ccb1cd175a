package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler3"
)

// Kind describes one served resource.
type Kind struct {
	// GVK of the object, e.g. apps/v1 Deployment.
	GVK schema.GroupVersionKind
	// Resource is the plural lower-case resource name, e.g. "deployments".
	Resource string
	// Namespaced reports whether objects live in a namespace.
	Namespaced bool
	// Object is a typed zero value, e.g. &appsv1.Deployment{}.
	Object runtime.Object
	// ListObject is the typed list, e.g. &appsv1.DeploymentList{}.
	ListObject runtime.Object
	// Subresources such as "status", "scale", "binding", "eviction", "token", "log",
	// "exec", "attach", "portforward".
	Subresources []string
}

// Install generates the documents for kinds and registers /openapi/v2,
// /openapi/v3 and /openapi/v3/ on mux. It fails if a kind's Go type cannot be
// described (which is a programming error in the caller's kind list).
func Install(mux *http.ServeMux, kinds []Kind) error {
	v2, err := BuildV2(kinds)
	if err != nil {
		return err
	}
	v3, err := BuildV3(kinds)
	if err != nil {
		return err
	}
	v2h, err := newV2Handler(v2)
	if err != nil {
		return err
	}
	mux.Handle("/openapi/v2", v2h)

	svc := handler3.NewOpenAPIService()
	for gv, doc := range v3 {
		svc.UpdateGroupVersion(gv, doc)
	}
	mux.HandleFunc("/openapi/v3", svc.HandleDiscovery)
	mux.HandleFunc("/openapi/v3/", func(w http.ResponseWriter, r *http.Request) {
		gv := strings.TrimPrefix(r.URL.Path, "/openapi/v3/")
		if _, ok := v3[gv]; !ok {
			writeNotFound(w, r.URL.Path)
			return
		}
		svc.HandleGroupVersion(w, r)
	})
	return nil
}

func writeNotFound(w http.ResponseWriter, path string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  fmt.Sprintf("the server could not find the requested resource (get %s)", path),
		Reason:   metav1.StatusReasonNotFound,
		Code:     http.StatusNotFound,
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(st)
}
