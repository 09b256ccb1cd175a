package printers

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ToTable converts a typed object or typed list into a Table. A single object
// gives a one-row table. It fails only for objects it cannot read metadata from.
func ToTable(obj runtime.Object, opts Options) (*metav1.Table, error) {
	return nil, fmt.Errorf("printers: ToTable for %T is being written", obj)
}
