package apiserver

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

type fieldList = field.ErrorList

// fieldInvalid builds an Invalid error for a dotted path.
func fieldInvalid(path string, value any, msg string) *field.Error {
	parts := strings.Split(path, ".")
	return field.Invalid(field.NewPath(parts[0], parts[1:]...), value, msg)
}
