package openapi

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// Subresources such as "status", "scale", "binding", "eviction", "log".
	Subresources []string
}

// Install generates the documents for kinds and registers /openapi/v2,
// /openapi/v3 and /openapi/v3/ on mux. It fails if a kind's Go type cannot be
// described (which is a programming error in the caller's kind list).
func Install(mux *http.ServeMux, kinds []Kind) error {
	return fmt.Errorf("openapi: being written")
}
