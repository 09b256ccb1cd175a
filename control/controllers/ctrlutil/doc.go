// Package ctrlutil holds the small pieces Skiff's workload controllers share:
// work-queue keys, creation/deletion expectations, pod readiness and
// availability checks, controller ownerReferences, adoption/release of
// dependents by label selector, building a Pod from a PodTemplateSpec, a
// pod-informer index by controller UID (PodSource), the informer event
// handlers of controllers whose pods name them as controller (OwnerHandler,
// OwnedPodHandler) and the shared worker loop (Run) every controller uses.
//
// It takes API objects (k8s.io/api types) and a kubernetes.Interface for the
// few writes it does (adopt/release patches, pod creation) and puts out plain
// values; it keeps no state except Expectations.
package ctrlutil
