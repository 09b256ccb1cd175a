package printers

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// printer describes one object type: its columns and how to fill a row.
type printer struct {
	columns []metav1.TableColumnDefinition
	// row returns the cells (one per column) and optional row conditions.
	row func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition)
}

// printers maps the element type (e.g. corev1.Pod, not a pointer) to its printer.
var printers = map[reflect.Type]printer{}

func register(sample any, p printer) {
	printers[reflect.TypeOf(sample)] = p
}

var defaultPrinter = printer{
	columns: []metav1.TableColumnDefinition{nameColumn, ageColumn},
	row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		m, _ := meta.Accessor(obj)
		return []any{m.GetName(), age(m.GetCreationTimestamp(), now)}, nil
	},
}

func printerFor(t reflect.Type) printer {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p, ok := printers[t]; ok {
		return p
	}
	return defaultPrinter
}

// ToTable converts a typed object or typed list into a Table. A single object
// gives a one-row table. It fails only for objects whose metadata it cannot
// read or whose row object it cannot encode.
func ToTable(obj runtime.Object, opts Options) (*metav1.Table, error) {
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		return nil, fmt.Errorf("printers: nil object")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}}
	var items []runtime.Object
	var elem reflect.Type
	if meta.IsListType(obj) {
		list, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, fmt.Errorf("printers: %T: %w", obj, err)
		}
		table.ResourceVersion = list.GetResourceVersion()
		table.Continue = list.GetContinue()
		table.RemainingItemCount = list.GetRemainingItemCount()
		items, err = meta.ExtractList(obj)
		if err != nil {
			return nil, fmt.Errorf("printers: %T: %w", obj, err)
		}
		elem = listElemType(obj)
	} else {
		items = []runtime.Object{obj}
		elem = reflect.TypeOf(obj)
	}
	p := printerFor(elem)
	if !opts.NoHeaders {
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), p.columns...)
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		if _, err := meta.Accessor(item); err != nil {
			return nil, fmt.Errorf("printers: %T has no object metadata: %w", item, err)
		}
		// A list of one type may hold other types (a v1 List); print each by its own type.
		ip := p
		if reflect.TypeOf(item) != elem && elem != nil {
			ip = printerFor(reflect.TypeOf(item))
		}
		cells, conds := ip.row(item, now)
		row := metav1.TableRow{Cells: cells, Conditions: conds}
		ro, err := rowObject(item, opts.IncludeObject)
		if err != nil {
			return nil, err
		}
		row.Object = ro
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

// listElemType is the pointer type of a typed list's items (*corev1.Pod for
// *corev1.PodList), or nil when it cannot tell.
func listElemType(list runtime.Object) reflect.Type {
	v := reflect.ValueOf(list)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f := v.FieldByName("Items")
	if !f.IsValid() || f.Kind() != reflect.Slice {
		return nil
	}
	t := f.Type().Elem()
	if t.Kind() != reflect.Pointer {
		t = reflect.PointerTo(t)
	}
	return t
}

// gvkOf finds an object's group-version-kind from its TypeMeta or the
// client-go scheme.
func gvkOf(obj runtime.Object) schema.GroupVersionKind {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && gvk.Version != "" {
		return gvk
	}
	if kinds, _, err := scheme.Scheme.ObjectKinds(obj); err == nil && len(kinds) > 0 {
		return kinds[0]
	}
	return gvk
}

// rowObject builds a row's object for the include policy. It carries both
// the Go object and its JSON encoding, so either kind of encoder writes it.
func rowObject(obj runtime.Object, policy metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	var out runtime.Object
	switch policy {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		cp := obj.DeepCopyObject()
		cp.GetObjectKind().SetGroupVersionKind(gvkOf(obj))
		out = cp
	default:
		m, _ := meta.Accessor(obj)
		pom := &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		}
		if om, ok := m.(*metav1.ObjectMeta); ok {
			pom.ObjectMeta = *om.DeepCopy()
		} else {
			pom.ObjectMeta = metav1.ObjectMeta{
				Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(),
				UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(), Generation: m.GetGeneration(),
				CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
				DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(), Labels: m.GetLabels(),
				Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
				Finalizers: m.GetFinalizers(), ManagedFields: m.GetManagedFields(),
			}
		}
		out = pom
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("printers: encode row object %T: %w", obj, err)
	}
	return runtime.RawExtension{Raw: raw, Object: out}, nil
}
