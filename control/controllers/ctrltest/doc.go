// Package ctrltest helps controller tests run against
// k8s.io/client-go/kubernetes/fake: NewClient returns a fake clientset whose
// creates fill in what a real API server would (a name from generateName,
// uid, creationTimestamp, generation 1), EmulateWrites adds resourceVersion
// conflicts and status-subresource semantics, and Eventually polls a
// condition.
// It is imported only from tests.
package ctrltest
