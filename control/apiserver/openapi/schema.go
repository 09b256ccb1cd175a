package openapi

import (
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Vendor extension names kubectl and apimachinery read.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extIntOrString   = "x-kubernetes-int-or-string"
)

// generator reflects over Go types and collects named definitions. One
// generator builds the definitions for one document flavour (v2 or v3),
// because the two differ in reference prefix and in a few special types.
type generator struct {
	v3   bool
	defs map[string]spec.Schema
	// building marks definitions under construction, so recursive types
	// terminate.
	building map[string]bool
}

func newGenerator(v3 bool) *generator {
	return &generator{v3: v3, defs: map[string]spec.Schema{}, building: map[string]bool{}}
}

func (g *generator) refPrefix() string {
	if g.v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

// DefinitionName is the upstream-style name of a Go type's definition:
// package k8s.io/api/core/v1, type Pod → io.k8s.api.core.v1.Pod.
func DefinitionName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	parts := strings.Split(pkg, "/")
	host := strings.Split(parts[0], ".")
	for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
		host[i], host[j] = host[j], host[i]
	}
	name := strings.Join(append(host, parts[1:]...), ".")
	return strings.ReplaceAll(name, "-", "_") + "." + t.Name()
}

var (
	timeType        = reflect.TypeOf(metav1.Time{})
	microTimeType   = reflect.TypeOf(metav1.MicroTime{})
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	rawExtType      = reflect.TypeOf(runtime.RawExtension{})
	fieldsV1Type    = reflect.TypeOf(metav1.FieldsV1{})
	durationType    = reflect.TypeOf(metav1.Duration{})
	patchType       = reflect.TypeOf(metav1.Patch{})
)

type swaggerDocer interface{ SwaggerDoc() map[string]string }

// docs returns the field descriptions k8s.io types carry at run time.
func docs(t reflect.Type) map[string]string {
	if d, ok := reflect.Zero(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	if d, ok := reflect.New(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// special returns the schema of a type that is not described by its Go
// structure (custom JSON marshalling), and whether t is such a type.
func (g *generator) special(t reflect.Type) (spec.Schema, bool) {
	var s spec.Schema
	switch t {
	case timeType:
		s.Type = spec.StringOrArray{"string"}
		s.Format = "date-time"
	case microTimeType:
		s.Type = spec.StringOrArray{"string"}
		s.Format = "date-time"
	case quantityType:
		if g.v3 {
			s.OneOf = []spec.Schema{{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}},
				{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"number"}}}}
		} else {
			s.Type = spec.StringOrArray{"string"}
		}
		s.Description = "Quantity is a fixed-point number with a suffix (binary SI Ki Mi Gi, decimal SI k M G, or exponent), for example 100m, 1Gi, 2.5."
	case intOrStringType:
		if g.v3 {
			s.AnyOf = []spec.Schema{{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"integer"}}},
				{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}}}}
			s.AddExtension(extIntOrString, true)
		} else {
			s.Type = spec.StringOrArray{"string"}
			s.Format = "int-or-string"
		}
		s.Description = "IntOrString holds either an int32 or a string."
	case rawExtType, fieldsV1Type, patchType:
		s.Type = spec.StringOrArray{"object"}
	case durationType:
		s.Type = spec.StringOrArray{"string"}
	default:
		return s, false
	}
	if d := docs(t); d[""] != "" {
		s.Description = d[""]
	}
	return s, true
}

// ref makes sure t has a definition and returns a schema referring to it.
func (g *generator) ref(t reflect.Type) (spec.Schema, error) {
	name := DefinitionName(t)
	if _, ok := g.defs[name]; !ok && !g.building[name] {
		g.building[name] = true
		def, err := g.define(t)
		delete(g.building, name)
		if err != nil {
			return spec.Schema{}, err
		}
		g.defs[name] = def
	}
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(g.refPrefix() + name)}}, nil
}

// define builds the definition body of a named struct or special type.
func (g *generator) define(t reflect.Type) (spec.Schema, error) {
	if s, ok := g.special(t); ok {
		return s, nil
	}
	if t.Kind() != reflect.Struct {
		return spec.Schema{}, fmt.Errorf("openapi: cannot define non-struct type %s", t)
	}
	s := spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	d := docs(t)
	s.Description = d[""]
	if err := g.addFields(&s, t); err != nil {
		return spec.Schema{}, err
	}
	return s, nil
}

// addFields adds t's JSON fields (including inlined embedded structs) to s.
func (g *generator) addFields(s *spec.Schema, t reflect.Type) error {
	d := docs(t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if err := g.addFields(s, et); err != nil {
					return err
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		fs, err := g.fieldSchema(f.Type)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		desc := d[name]
		if fs.Ref.String() != "" && g.v3 {
			// A $ref ignores its siblings in OpenAPI 3; wrap it like upstream does.
			fs = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{fs}}}
		}
		fs.Description = desc
		if ps := f.Tag.Get("patchStrategy"); ps != "" {
			fs.AddExtension(extPatchStrategy, ps)
		}
		if mk := f.Tag.Get("patchMergeKey"); mk != "" {
			fs.AddExtension(extPatchMergeKey, mk)
		}
		addListType(&fs, f)
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[name] = fs
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			s.Required = append(s.Required, name)
		}
	}
	return nil
}

// listMapFields are the merge-by-key lists whose keys the API server keeps
// unique, so they can be declared as list-maps (what server-side apply keys
// its merges on). Other merge lists stay atomic, as upstream leaves them
// where duplicates are legal (node addresses, env).
var listMapFields = map[string]bool{
	"containers": true, "initContainers": true, "ephemeralContainers": true, "volumes": true,
	"ports": true, "conditions": true, "ownerReferences": true,
}

// addListType marks unique merge-by-key lists as maps and merged primitive
// lists (finalizers) as sets.
func addListType(fs *spec.Schema, f reflect.StructField) {
	if len(fs.Type) != 1 || fs.Type[0] != "array" {
		return
	}
	ps := f.Tag.Get("patchStrategy")
	if !strings.Contains(ps, "merge") {
		return
	}
	mk := f.Tag.Get("patchMergeKey")
	if mk == "" {
		elem := f.Type.Elem()
		if elem.Kind() == reflect.String {
			fs.AddExtension(extListType, "set")
		}
		return
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if !listMapFields[name] {
		// Without a list type, server-side apply would key the list by its
		// merge key and reject legal duplicates.
		fs.AddExtension(extListType, "atomic")
		return
	}
	keys := []any{mk}
	// Ports are unique per (port, protocol), not per port alone.
	if mk == "containerPort" || (mk == "port" && hasField(f.Type.Elem(), "Protocol")) {
		keys = append(keys, "protocol")
	}
	fs.AddExtension(extListType, "map")
	fs.AddExtension(extListMapKeys, keys)
}

func hasField(t reflect.Type, name string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	_, ok := t.FieldByName(name)
	return ok
}

// fieldSchema is the inline schema of a field of type t.
func (g *generator) fieldSchema(t reflect.Type) (spec.Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() != "" && t.PkgPath() != "" {
		if _, ok := g.special(t); ok {
			return g.ref(t)
		}
		if t.Kind() == reflect.Struct {
			return g.ref(t)
		}
	}
	var s spec.Schema
	switch t.Kind() {
	case reflect.String:
		s.Type = spec.StringOrArray{"string"}
	case reflect.Bool:
		s.Type = spec.StringOrArray{"boolean"}
	case reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint16, reflect.Uint8:
		s.Type = spec.StringOrArray{"integer"}
		s.Format = "int32"
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		s.Type = spec.StringOrArray{"integer"}
		s.Format = "int64"
	case reflect.Float32, reflect.Float64:
		s.Type = spec.StringOrArray{"number"}
		s.Format = "double"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s.Type = spec.StringOrArray{"string"}
			s.Format = "byte"
			break
		}
		item, err := g.fieldSchema(t.Elem())
		if err != nil {
			return s, err
		}
		if g.v3 && item.Ref.String() != "" {
			item = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{item}, Default: map[string]any{}}}
		}
		s.Type = spec.StringOrArray{"array"}
		s.Items = &spec.SchemaOrArray{Schema: &item}
	case reflect.Map:
		val, err := g.fieldSchema(t.Elem())
		if err != nil {
			return s, err
		}
		s.Type = spec.StringOrArray{"object"}
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &val}
	case reflect.Interface:
		s.Type = spec.StringOrArray{"object"}
	case reflect.Struct:
		// An anonymous struct type: describe it inline.
		s.Type = spec.StringOrArray{"object"}
		if err := g.addFields(&s, t); err != nil {
			return s, err
		}
	default:
		return s, fmt.Errorf("unsupported Go kind %s", t.Kind())
	}
	return s, nil
}

// addKind defines obj's type and stamps it with its group-version-kind.
func (g *generator) addKind(obj runtime.Object, gvk map[string]any) (string, error) {
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, err := g.ref(t); err != nil {
		return "", err
	}
	name := DefinitionName(t)
	def := g.defs[name]
	var list []any
	if v, ok := def.Extensions[extGVK]; ok {
		list, _ = v.([]any)
	}
	for _, have := range list {
		if reflect.DeepEqual(have, gvk) {
			return name, nil
		}
	}
	def.AddExtension(extGVK, append(list, gvk))
	g.defs[name] = def
	return name, nil
}
