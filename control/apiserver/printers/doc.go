// Package printers turns typed Kubernetes objects into metav1.Table values, the
// server-side form that `kubectl get` asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//
// It takes in a typed k8s.io/api object or typed list (*corev1.Pod,
// *corev1.PodList, *appsv1.Deployment, ...) and puts out a *metav1.Table whose
// columns match the ones upstream kubectl users know, with priority 1 for the
// columns shown only by `-o wide`. Supported kinds: pods, deployments,
// replicasets, daemonsets, jobs, services, endpoints, endpointslices, nodes,
// namespaces, configmaps, secrets, serviceaccounts, events and leases; any
// other object gets the default Name/Age table.
//
// Each row's object is, by default (IncludeObject Metadata or empty), a
// PartialObjectMetadata (apiVersion meta.k8s.io/v1); with IncludeObject Object
// it is the full object with apiVersion and kind set; with None it is empty.
// Row objects carry both Object and Raw (JSON) so that plain encoding/json and
// apimachinery codecs both write them. The table's ListMeta (resourceVersion,
// continue) is copied from a list's metadata.
//
// The package is pure: no I/O, no global state besides the read-only type scheme.
package printers
