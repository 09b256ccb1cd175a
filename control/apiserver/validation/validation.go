package validation

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Default applies the API server's defaults to obj in place.
func Default(obj runtime.Object) {}

// Validate checks a new object (create, or the new state on update).
func Validate(obj runtime.Object) field.ErrorList { return nil }

// ValidateUpdate checks obj and its immutable fields against old. old must be
// the same Go type as obj.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList { return Validate(obj) }
