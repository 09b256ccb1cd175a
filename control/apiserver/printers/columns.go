package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

const none = "<none>"

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name",
		Description: "Name must be unique within a namespace."}
	ageColumn = metav1.TableColumnDefinition{Name: "Age", Type: "string",
		Description: "Time since the object was created (metadata.creationTimestamp)."}
)

// col is a priority-0 column; wide is a priority-1 (-o wide) column.
func col(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

func wide(name, typ, desc string) metav1.TableColumnDefinition {
	c := col(name, typ, desc)
	c.Priority = 1
	return c
}

// age prints the time since ts like kubectl: "5m", "3d2h", "<unknown>".
func age(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

func microAge(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// containerCells are the wide Containers and Images cells of a pod template.
func containerCells(spec corev1.PodSpec) (string, string) {
	names := make([]string, 0, len(spec.Containers))
	images := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func selectorCell(sel *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(sel)
}

func int32Val(p *int32, def int32) int64 {
	if p == nil {
		return int64(def)
	}
	return int64(*p)
}
