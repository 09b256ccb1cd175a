package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Options controls how ToTable builds a table.
type Options struct {
	// IncludeObject selects what each row's object holds: None, Metadata
	// (the default when empty) or Object.
	IncludeObject metav1.IncludeObjectPolicy
	// NoHeaders leaves ColumnDefinitions empty, as for watch events after the first.
	NoHeaders bool
	// Now is the reference time for Age and "ago" cells; zero means time.Now().
	Now time.Time
}
