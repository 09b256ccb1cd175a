package validation

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	metaPath = field.NewPath("metadata")
	specPath = field.NewPath("spec")
)

// clusterScoped lists the kinds whose objects have no namespace.
func clusterScoped(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Namespace, *corev1.Node:
		return true
	}
	return false
}

// nameFunc picks the name rule of a kind: DNS-1035 label for Services,
// DNS-1123 label for Namespaces, DNS-1123 subdomain otherwise.
func nameFunc(obj runtime.Object) apimachineryvalidation.ValidateNameFunc {
	switch obj.(type) {
	case *corev1.Service:
		return apimachineryvalidation.NameIsDNS1035Label
	case *corev1.Namespace:
		return apimachineryvalidation.ValidateNamespaceName
	}
	return apimachineryvalidation.NameIsDNSSubdomain
}

// validateMeta checks metadata: name (or generateName), namespace presence
// and syntax, labels, annotations, owner references and finalizers.
func validateMeta(obj runtime.Object) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(metaPath, fmt.Errorf("%T has no object metadata", obj))}
	}
	om, ok := m.(*metav1.ObjectMeta)
	if !ok {
		return apimachineryvalidation.ValidateObjectMetaAccessor(m, !clusterScoped(obj), nameFunc(obj), metaPath)
	}
	return apimachineryvalidation.ValidateObjectMeta(om, !clusterScoped(obj), nameFunc(obj), metaPath)
}

// Validate checks a new object (create, or the new state on update). The
// namespace of a namespaced object must already be set (from the URL).
func Validate(obj runtime.Object) field.ErrorList {
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		return field.ErrorList{field.Required(nil, "an object is required")}
	}
	errs := validateMeta(obj)
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodSpec(&o.Spec, specPath)...)
	case *corev1.PodTemplate:
		errs = append(errs, validateTemplate(&o.Template, field.NewPath("template"))...)
	case *corev1.Service:
		errs = append(errs, validateService(o)...)
	case *corev1.Endpoints:
		errs = append(errs, validateEndpoints(o)...)
	case *discoveryv1.EndpointSlice:
		errs = append(errs, validateEndpointSlice(o)...)
	case *corev1.Node:
		errs = append(errs, validateNode(o)...)
	case *corev1.ConfigMap:
		errs = append(errs, validateConfigMap(o)...)
	case *corev1.Secret:
		errs = append(errs, validateSecret(o)...)
	case *corev1.Event:
		errs = append(errs, validateEvent(o)...)
	case *coordinationv1.Lease:
		errs = append(errs, validateLease(o)...)
	case *appsv1.Deployment:
		errs = append(errs, validateDeployment(o)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, validateReplicaSet(o)...)
	case *appsv1.DaemonSet:
		errs = append(errs, validateDaemonSet(o)...)
	case *batchv1.Job:
		errs = append(errs, validateJob(o)...)
	}
	return errs
}

// ValidateUpdate checks obj and its immutable fields against old. old must
// be the same Go type as obj.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	errs := Validate(obj)
	if old == nil || reflect.ValueOf(old).IsNil() {
		return errs
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return append(errs, field.InternalError(metaPath,
			fmt.Errorf("cannot compare %T with old %T", obj, old)))
	}
	nm, err1 := meta.Accessor(obj)
	om, err2 := meta.Accessor(old)
	if err1 == nil && err2 == nil {
		errs = append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(nm, om, metaPath)...)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = append(errs, validatePodUpdate(o, old.(*corev1.Pod))...)
	case *corev1.Service:
		errs = append(errs, validateServiceUpdate(o, old.(*corev1.Service))...)
	case *corev1.Node:
		errs = append(errs, validateNodeUpdate(o, old.(*corev1.Node))...)
	case *corev1.ConfigMap:
		o2 := old.(*corev1.ConfigMap)
		errs = append(errs, validateImmutableData(o.Immutable, o2.Immutable, o.Data, o2.Data, o.BinaryData, o2.BinaryData)...)
	case *corev1.Secret:
		o2 := old.(*corev1.Secret)
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(o.Type, o2.Type, field.NewPath("type"))...)
		errs = append(errs, validateImmutableData(o.Immutable, o2.Immutable, nil, nil, o.Data, o2.Data)...)
	case *appsv1.Deployment:
		errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.Deployment).Spec.Selector)...)
	case *appsv1.ReplicaSet:
		errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector)...)
	case *appsv1.DaemonSet:
		errs = append(errs, immutableSelector(o.Spec.Selector, old.(*appsv1.DaemonSet).Spec.Selector)...)
	case *batchv1.Job:
		errs = append(errs, validateJobUpdate(o, old.(*batchv1.Job))...)
	}
	return errs
}

func immutableSelector(sel, old *metav1.LabelSelector) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(sel, old, specPath.Child("selector"))
}
