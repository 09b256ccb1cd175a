package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/skiffnet/skiff/internal/version"
)

// GroupVersionPath is the /openapi/v3 key of a group-version: "api/v1" for
// the core group, "apis/<group>/<version>" otherwise.
func GroupVersionPath(group, v string) string {
	if group == "" {
		return "api/" + v
	}
	return "apis/" + group + "/" + v
}

func checkKinds(kinds []Kind) error {
	seen := map[string]bool{}
	for i, k := range kinds {
		if k.GVK.Kind == "" || k.GVK.Version == "" || k.Resource == "" {
			return fmt.Errorf("openapi: kind #%d (%v) needs GVK kind and version and a resource name", i, k.GVK)
		}
		if k.Object == nil || k.ListObject == nil {
			return fmt.Errorf("openapi: kind %s needs both Object and ListObject", k.GVK)
		}
		key := k.GVK.GroupVersion().String() + "/" + k.Resource
		if seen[key] {
			return fmt.Errorf("openapi: resource %s is listed twice", key)
		}
		seen[key] = true
	}
	return nil
}

// addDefinitions defines every kind (stamped with its GVK) and every type the
// operations mention.
func addDefinitions(g *generator, kinds []Kind, paths map[string][]op) error {
	for _, k := range kinds {
		gvk := gvkExt(k.GVK.Group, k.GVK.Version, k.GVK.Kind)
		if _, err := g.addKind(k.Object, gvk); err != nil {
			return err
		}
		lgvk := gvkExt(k.GVK.Group, k.GVK.Version, typeOf(k.ListObject).Name())
		if _, err := g.addKind(k.ListObject, lgvk); err != nil {
			return err
		}
	}
	for _, t := range bodyTypes(paths) {
		if _, err := g.ref(t); err != nil {
			return err
		}
	}
	// Status and DeleteOptions serve every group; stamp them like upstream
	// so clients can find them by kind.
	for _, t := range []reflect.Type{reflect.TypeOf(metav1.Status{}), reflect.TypeOf(metav1.DeleteOptions{})} {
		if _, err := g.ref(t); err != nil {
			return err
		}
	}
	return nil
}

func collectPaths(kinds []Kind) map[string][]op {
	all := map[string][]op{}
	for _, k := range kinds {
		for p, ops := range kindPaths(k) {
			all[p] = append(all[p], ops...)
		}
	}
	return all
}

// BuildV2 generates the Swagger 2.0 document for kinds.
func BuildV2(kinds []Kind) (*spec.Swagger, error) {
	if err := checkKinds(kinds); err != nil {
		return nil, err
	}
	paths := collectPaths(kinds)
	g := newGenerator(false)
	if err := addDefinitions(g, kinds, paths); err != nil {
		return nil, err
	}
	doc := map[string]any{
		"swagger":     "2.0",
		"info":        map[string]any{"title": "Kubernetes", "version": version.Kubernetes},
		"paths":       v2Paths(g, paths),
		"definitions": g.defs,
		"securityDefinitions": map[string]any{
			"BearerToken": map[string]any{"type": "apiKey", "name": "authorization", "in": "header",
				"description": "Bearer Token authentication"},
		},
		"security": []any{map[string]any{"BearerToken": []any{}}},
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode v2: %w", err)
	}
	var sw spec.Swagger
	if err := json.Unmarshal(raw, &sw); err != nil {
		return nil, fmt.Errorf("openapi: decode v2: %w", err)
	}
	return &sw, nil
}

// BuildV3 generates one OpenAPI 3.0 document per group-version, keyed by
// GroupVersionPath ("api/v1", "apis/apps/v1").
func BuildV3(kinds []Kind) (map[string]*spec3.OpenAPI, error) {
	if err := checkKinds(kinds); err != nil {
		return nil, err
	}
	byGV := map[string][]Kind{}
	var order []string
	for _, k := range kinds {
		key := GroupVersionPath(k.GVK.Group, k.GVK.Version)
		if _, ok := byGV[key]; !ok {
			order = append(order, key)
		}
		byGV[key] = append(byGV[key], k)
	}
	sort.Strings(order)
	out := map[string]*spec3.OpenAPI{}
	for _, key := range order {
		ks := byGV[key]
		paths := collectPaths(ks)
		g := newGenerator(true)
		if err := addDefinitions(g, ks, paths); err != nil {
			return nil, err
		}
		doc := map[string]any{
			"openapi": "3.0.0",
			"info":    map[string]any{"title": "Kubernetes", "version": version.Kubernetes},
			"paths":   v3Paths(g, paths),
			"components": map[string]any{
				"schemas": g.defs,
				"securitySchemes": map[string]any{
					"BearerToken": map[string]any{"type": "apiKey", "name": "authorization", "in": "header",
						"description": "Bearer Token authentication"},
				},
			},
			"security": []any{map[string]any{"BearerToken": []any{}}},
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("openapi: encode v3 %s: %w", key, err)
		}
		var o spec3.OpenAPI
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("openapi: decode v3 %s: %w", key, err)
		}
		out[key] = &o
	}
	return out, nil
}

func (g *generator) refSchema(t reflect.Type) map[string]any {
	return map[string]any{"$ref": g.refPrefix() + DefinitionName(t)}
}

func v2Paths(g *generator, paths map[string][]op) map[string]any {
	out := map[string]any{}
	for p, ops := range paths {
		item := map[string]any{}
		for _, o := range ops {
			var params []any
			for _, pa := range o.params {
				m := map[string]any{"name": pa.name, "in": pa.in, "type": pa.typ, "description": pa.desc}
				if pa.required {
					m["required"] = true
				}
				if pa.in == "path" {
					m["uniqueItems"] = true
				}
				params = append(params, m)
			}
			consumes := []string{"*/*"}
			if o.body != nil {
				params = append(params, map[string]any{"name": "body", "in": "body", "required": !o.patch && o.method != "delete",
					"schema": g.refSchema(o.body)})
				consumes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
				if o.patch {
					consumes = PatchContentTypes
				}
			}
			produces := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
			ok := map[string]any{"description": "OK"}
			if o.resp != nil {
				ok["schema"] = g.refSchema(o.resp)
			} else {
				ok["schema"] = map[string]any{"type": "string"}
				produces = []string{"*/*"}
			}
			responses := map[string]any{"200": ok, "401": map[string]any{"description": "Unauthorized"}}
			if o.created {
				responses["201"] = map[string]any{"description": "Created", "schema": ok["schema"]}
			}
			item[o.method] = map[string]any{
				"description": o.desc, "operationId": o.id, "consumes": consumes, "produces": produces,
				"schemes": []string{"https"}, "parameters": params, "responses": responses,
				"x-kubernetes-action": o.action, extGVK: o.gvk,
			}
		}
		out[p] = item
	}
	return out
}

func v3Paths(g *generator, paths map[string][]op) map[string]any {
	out := map[string]any{}
	for p, ops := range paths {
		item := map[string]any{}
		for _, o := range ops {
			var params []any
			for _, pa := range o.params {
				sch := map[string]any{"type": pa.typ}
				if pa.in == "path" {
					sch["uniqueItems"] = true
				}
				m := map[string]any{"name": pa.name, "in": pa.in, "description": pa.desc, "schema": sch}
				if pa.required {
					m["required"] = true
				}
				params = append(params, m)
			}
			entry := map[string]any{
				"description": o.desc, "operationId": o.id, "parameters": params,
				"x-kubernetes-action": o.action, extGVK: o.gvk,
			}
			if o.body != nil {
				content := map[string]any{}
				types := []string{"*/*"}
				if o.patch {
					types = PatchContentTypes
				}
				for _, ct := range types {
					content[ct] = map[string]any{"schema": g.refSchema(o.body)}
				}
				entry["requestBody"] = map[string]any{"content": content, "required": !o.patch && o.method != "delete"}
			}
			okContent := map[string]any{}
			if o.resp != nil {
				for _, ct := range []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"} {
					okContent[ct] = map[string]any{"schema": g.refSchema(o.resp)}
				}
			} else {
				okContent["*/*"] = map[string]any{"schema": map[string]any{"type": "string"}}
			}
			responses := map[string]any{
				"200": map[string]any{"description": "OK", "content": okContent},
				"401": map[string]any{"description": "Unauthorized"},
			}
			if o.created {
				responses["201"] = map[string]any{"description": "Created", "content": okContent}
			}
			entry["responses"] = responses
			item[o.method] = entry
		}
		out[p] = item
	}
	return out
}

// Schemas returns the definitions of kinds keyed by definition name, with
// "#/definitions/" references, in the form managedfields.NewTypeConverter
// (server-side apply) takes.
func Schemas(kinds []Kind) (map[string]*spec.Schema, error) {
	sw, err := BuildV2(kinds)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*spec.Schema, len(sw.Definitions))
	for name, s := range sw.Definitions {
		s := s
		out[name] = &s
	}
	return out, nil
}
