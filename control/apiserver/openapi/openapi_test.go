package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	kproto "k8s.io/kube-openapi/pkg/util/proto"
)

// testKinds is the resource list issue 3 asks the server to serve.
func testKinds() []Kind {
	gvk := func(g, v, k string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: g, Version: v, Kind: k}
	}
	return []Kind{
		{GVK: gvk("", "v1", "Namespace"), Resource: "namespaces", Object: &corev1.Namespace{}, ListObject: &corev1.NamespaceList{}, Subresources: []string{"status"}},
		{GVK: gvk("", "v1", "Pod"), Resource: "pods", Namespaced: true, Object: &corev1.Pod{}, ListObject: &corev1.PodList{},
			Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward"}},
		{GVK: gvk("", "v1", "Service"), Resource: "services", Namespaced: true, Object: &corev1.Service{}, ListObject: &corev1.ServiceList{}, Subresources: []string{"status"}},
		{GVK: gvk("", "v1", "Endpoints"), Resource: "endpoints", Namespaced: true, Object: &corev1.Endpoints{}, ListObject: &corev1.EndpointsList{}},
		{GVK: gvk("", "v1", "Node"), Resource: "nodes", Object: &corev1.Node{}, ListObject: &corev1.NodeList{}, Subresources: []string{"status"}},
		{GVK: gvk("", "v1", "ConfigMap"), Resource: "configmaps", Namespaced: true, Object: &corev1.ConfigMap{}, ListObject: &corev1.ConfigMapList{}},
		{GVK: gvk("", "v1", "Secret"), Resource: "secrets", Namespaced: true, Object: &corev1.Secret{}, ListObject: &corev1.SecretList{}},
		{GVK: gvk("", "v1", "ServiceAccount"), Resource: "serviceaccounts", Namespaced: true, Object: &corev1.ServiceAccount{}, ListObject: &corev1.ServiceAccountList{}},
		{GVK: gvk("", "v1", "Event"), Resource: "events", Namespaced: true, Object: &corev1.Event{}, ListObject: &corev1.EventList{}},
		{GVK: gvk("apps", "v1", "Deployment"), Resource: "deployments", Namespaced: true, Object: &appsv1.Deployment{}, ListObject: &appsv1.DeploymentList{}, Subresources: []string{"status", "scale"}},
		{GVK: gvk("apps", "v1", "ReplicaSet"), Resource: "replicasets", Namespaced: true, Object: &appsv1.ReplicaSet{}, ListObject: &appsv1.ReplicaSetList{}, Subresources: []string{"status", "scale"}},
		{GVK: gvk("apps", "v1", "DaemonSet"), Resource: "daemonsets", Namespaced: true, Object: &appsv1.DaemonSet{}, ListObject: &appsv1.DaemonSetList{}, Subresources: []string{"status"}},
		{GVK: gvk("batch", "v1", "Job"), Resource: "jobs", Namespaced: true, Object: &batchv1.Job{}, ListObject: &batchv1.JobList{}, Subresources: []string{"status"}},
		{GVK: gvk("discovery.k8s.io", "v1", "EndpointSlice"), Resource: "endpointslices", Namespaced: true, Object: &discoveryv1.EndpointSlice{}, ListObject: &discoveryv1.EndpointSliceList{}},
		{GVK: gvk("coordination.k8s.io", "v1", "Lease"), Resource: "leases", Namespaced: true, Object: &coordinationv1.Lease{}, ListObject: &coordinationv1.LeaseList{}},
	}
}

var (
	sharedOnce sync.Once
	sharedMux  *http.ServeMux
	sharedErr  error
)

// startServer serves the documents over loopback. The mux is built once per
// test binary, as generating the documents takes a moment.
func startServer(t *testing.T) *httptest.Server {
	t.Helper()
	sharedOnce.Do(func() {
		sharedMux = http.NewServeMux()
		sharedErr = Install(sharedMux, testKinds())
	})
	if sharedErr != nil {
		t.Fatalf("Install: %v", sharedErr)
	}
	srv := httptest.NewServer(sharedMux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestV2ProtobufAsKubectlFetchesIt uses client-go's discovery client, which
// sends kubectl's Accept header and decodes only protobuf, then checks the
// patch metadata apply computes strategic merge patches from.
func TestV2ProtobufAsKubectlFetchesIt(t *testing.T) {
	srv := startServer(t)
	resp := get(t, srv.URL+"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if ct := resp.Header.Get("Content-Type"); ct != ContentTypeV2Protobuf {
		t.Fatalf("Content-Type = %q, want %q", ct, ContentTypeV2Protobuf)
	}
	body, _ := io.ReadAll(resp.Body)
	var doc openapi_v2.Document
	if err := proto.Unmarshal(body, &doc); err != nil {
		t.Fatalf("protobuf does not decode: %v", err)
	}

	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	d, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("discovery OpenAPISchema: %v", err)
	}
	models, err := kproto.NewOpenAPIData(d)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	dep := models.LookupModel("io.k8s.api.apps.v1.Deployment")
	if dep == nil {
		t.Fatalf("no io.k8s.api.apps.v1.Deployment model; have %d models", len(models.ListModels()))
	}
	meta := strategicpatch.NewPatchMetaFromOpenAPI(dep)
	for _, f := range []string{"spec", "template", "spec"} {
		next, _, err := meta.LookupPatchMetadataForStruct(f)
		if err != nil {
			t.Fatalf("lookup %s: %v", f, err)
		}
		meta = next.(strategicpatch.PatchMetaFromOpenAPI)
	}
	_, pm, err := meta.LookupPatchMetadataForSlice("containers")
	if err != nil {
		t.Fatalf("lookup containers: %v", err)
	}
	if pm.GetPatchMergeKey() != "name" || len(pm.GetPatchStrategies()) != 1 || pm.GetPatchStrategies()[0] != "merge" {
		t.Fatalf("containers patch meta = key %q strategies %v, want name/merge", pm.GetPatchMergeKey(), pm.GetPatchStrategies())
	}
	gvks := dep.GetExtensions()[extGVK]
	if gvks == nil {
		t.Fatalf("Deployment lacks %s", extGVK)
	}

	// JSON on request.
	resp = get(t, srv.URL+"/openapi/v2", "application/json")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("JSON Content-Type = %q", ct)
	}
	var sw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&sw); err != nil || sw["swagger"] != "2.0" {
		t.Fatalf("JSON v2 does not decode as swagger 2.0: %v", err)
	}
	if resp := get(t, srv.URL+"/openapi/v2", "text/html"); resp.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("text/html got %d, want 406", resp.StatusCode)
	}
}

func TestV3IndexHashAndNotFound(t *testing.T) {
	srv := startServer(t)
	resp := get(t, srv.URL+"/openapi/v3", "")
	var idx struct {
		Paths map[string]struct {
			URL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatalf("index: %v", err)
	}
	for _, want := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/discovery.k8s.io/v1", "apis/coordination.k8s.io/v1"} {
		u := idx.Paths[want].URL
		if !strings.HasPrefix(u, "/openapi/v3/"+want+"?hash=") {
			t.Fatalf("index entry %s = %q", want, u)
		}
		r := get(t, srv.URL+u, "application/json")
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", u, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	r := get(t, srv.URL+"/openapi/v3/apis/apps/v1?hash=stale", "application/json")
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != idx.Paths["apis/apps/v1"].URL {
		t.Fatalf("stale hash: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = get(t, srv.URL+"/openapi/v3/apis/nope/v1", "application/json")
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown group-version got %d, want 404", r.StatusCode)
	}
}

// TestV3PatchOpsAndSchemas reads the documents the way kubectl does (client-go
// openapi3 root) and checks what kubectl relies on.
func TestV3PatchOpsAndSchemas(t *testing.T) {
	srv := startServer(t)
	dc := discovery.NewDiscoveryClientForConfigOrDie(&rest.Config{Host: srv.URL})
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil || len(gvs) != 5 {
		t.Fatalf("GroupVersions = %v, %v", gvs, err)
	}
	kinds := testKinds()
	for _, k := range kinds {
		doc, err := root.GVSpec(k.GVK.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec %s: %v", k.GVK.GroupVersion(), err)
		}
		found := false
		for path, item := range doc.Paths.Paths {
			if item.Patch == nil {
				continue
			}
			checkPatchOp(t, path, item.Patch)
			if gvkMatches(item.Patch.Extensions[extGVK], k.GVK) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no PATCH operation carries its group-version-kind", k.GVK)
		}
		name := DefinitionName(typeOf(k.Object))
		def := doc.Components.Schemas[name]
		if def == nil || !gvkMatches(def.Extensions[extGVK], k.GVK) {
			t.Errorf("%s: definition %s missing or without its GVK", k.GVK, name)
		}
	}

	// Strategic merge with the v3 schema, as kubectl apply does.
	doc, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{SchemaList: doc.Components.Schemas,
		Schema: doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]}
	original := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`)
	modified := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"b","image":"b:1"}]}}}}`)
	current := []byte(`{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"a","image":"a:1","imagePullPolicy":"IfNotPresent"},{"name":"b","image":"b:1"}]}}}}`)
	patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
	if err != nil {
		t.Fatalf("three-way patch from v3 schema: %v", err)
	}
	if !strings.Contains(string(patch), `"$setElementOrder/containers":[{"name":"a"},{"name":"b"}]`) ||
		!strings.Contains(string(patch), `{"image":"a:2","name":"a"}`) {
		t.Fatalf("patch does not merge containers by name: %s", patch)
	}
	ports := doc.Components.Schemas["io.k8s.api.core.v1.Container"]
	if ports == nil {
		t.Fatal("apps/v1 document lacks io.k8s.api.core.v1.Container")
	}
	p := ports.Properties["ports"]
	if p.Extensions[extPatchMergeKey] != "containerPort" || p.Extensions[extListType] != "map" {
		t.Fatalf("container ports extensions = %v", p.Extensions)
	}
	img := ports.Properties["image"]
	if len(img.Type) != 1 || img.Type[0] != "string" {
		t.Fatalf("container image schema = %+v", img)
	}
	for _, req := range ports.Required {
		if req == "image" {
			t.Fatal("image is omitempty and must not be required")
		}
	}
	if len(ports.Required) == 0 || ports.Required[0] != "name" {
		t.Fatalf("container required = %v, want name", ports.Required)
	}
}

func gvkMatches(ext any, gvk schema.GroupVersionKind) bool {
	var list []any
	switch v := ext.(type) {
	case []any:
		list = v
	case map[string]any:
		list = []any{v}
	}
	for _, e := range list {
		m, _ := e.(map[string]any)
		if m["group"] == gvk.Group && m["version"] == gvk.Version && m["kind"] == gvk.Kind {
			return true
		}
	}
	return false
}

func checkPatchOp(t *testing.T, path string, op *spec3.Operation) {
	t.Helper()
	hasFV := false
	for _, p := range op.Parameters {
		if p.Name == "fieldValidation" && p.In == "query" {
			hasFV = true
		}
	}
	if !hasFV {
		t.Errorf("PATCH %s lacks the fieldValidation parameter", path)
	}
	if op.RequestBody == nil {
		t.Fatalf("PATCH %s has no requestBody", path)
	}
	for _, ct := range PatchContentTypes {
		if _, ok := op.RequestBody.Content[ct]; !ok {
			t.Errorf("PATCH %s requestBody lacks %s", path, ct)
		}
	}
}

func TestSpecialTypes(t *testing.T) {
	v2, err := BuildV2(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       "date-time",
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
	}
	for name, format := range cases {
		d, ok := v2.Definitions[name]
		if !ok || d.Format != format || len(d.Type) != 1 || d.Type[0] != "string" {
			t.Errorf("%s = %+v, want string/%s", name, d.SchemaProps, format)
		}
	}
	if d := v2.Definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]; len(d.Type) != 1 || d.Type[0] != "string" {
		t.Errorf("Quantity = %+v", d.SchemaProps)
	}
	g := newGenerator(false)
	if _, err := g.ref(rawExtType); err != nil {
		t.Fatal(err)
	}
	if d := g.defs["io.k8s.apimachinery.pkg.runtime.RawExtension"]; len(d.Type) != 1 || d.Type[0] != "object" {
		t.Errorf("RawExtension = %+v", d.SchemaProps)
	}
	v3, err := BuildV3(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	ios := v3["apis/apps/v1"].Components.Schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
	if ios == nil || ios.Extensions[extIntOrString] != true {
		t.Fatalf("v3 IntOrString = %+v", ios)
	}
	pod := v2.Definitions["io.k8s.api.core.v1.Pod"]
	for _, f := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		if _, ok := pod.Properties[f]; !ok {
			t.Errorf("Pod lacks property %s", f)
		}
	}
	if pod.Description == "" {
		t.Error("Pod has no description")
	}
}

func TestInstallRejectsBadKinds(t *testing.T) {
	err := Install(http.NewServeMux(), []Kind{{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: "pods"}})
	if err == nil {
		t.Fatal("a kind without Object was accepted")
	}
}
