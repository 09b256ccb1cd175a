// Package openapi builds and serves the OpenAPI documents kubectl needs for
// `apply`, `create -f` validation and `explain`.
//
// It takes in the list of served kinds (group/version/kind, resource name,
// scope, a typed Go object and list, subresources) and, at start-up, reflects
// over the k8s.io/api Go structs to generate the schemas itself: json tags
// give property names, omitempty marks optional fields, the patchStrategy and
// patchMergeKey struct tags become x-kubernetes-patch-strategy and
// x-kubernetes-patch-merge-key, and the well-known special types
// (metav1.Time, resource.Quantity, intstr.IntOrString, runtime.RawExtension,
// ...) get their upstream shapes. Definitions are named like upstream
// (io.k8s.api.core.v1.Pod) and top-level kinds carry
// x-kubernetes-group-version-kind.
//
// It puts out, on the given mux:
//   - /openapi/v2: Swagger 2.0, as protobuf (Content-Type
//     application/com.github.proto-openapi.spec.v2.v1.0+protobuf) or JSON when
//     the client accepts application/json, with ETag caching;
//   - /openapi/v3: the index {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."}}}
//     and one OpenAPI 3.0 document per group-version under /openapi/v3/<gv>,
//     with a 301 to the current URL on a stale hash and 404 for unknown ones.
//
// Every kind gets list/create/deletecollection/get/replace/patch/delete
// paths (plus an all-namespaces list for namespaced kinds, and its
// subresources: status and scale with get/replace/patch, binding and eviction
// with create, log with get, others as connect operations). Every PATCH
// operation carries the fieldValidation query parameter and a requestBody
// listing the four patch content types, so kubectl leaves field validation to
// the server.
//
// Merge-by-key lists whose keys the server keeps unique (containers,
// volumes, ports, conditions, ownerReferences) are declared
// x-kubernetes-list-type map; other merge lists are atomic and merged
// primitive lists (finalizers) are sets. Schemas(kinds) returns the
// definitions in the form managedfields.NewTypeConverter takes, for
// server-side apply. BuildV2/BuildV3 expose the documents for tests and
// tools. Install takes about a second at start-up; the documents are about
// 0.6 MB (v2) and 1.2 MB (all v3) for the kinds.
package openapi
