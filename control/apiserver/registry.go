package apiserver

import (
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource describes one served resource.
type Resource struct {
	Group, Version string
	// Name is the plural resource name, e.g. "pods".
	Name         string
	Singular     string
	Kind         string
	Namespaced   bool
	ShortNames   []string
	Categories   []string
	Subresources []string
	New          func() runtime.Object
	NewList      func() runtime.Object
	// Virtual resources are not stored: they only accept create, answered
	// by Create (for example SelfSubjectAccessReview).
	Virtual bool
	Create  func(s *Server, r *http.Request, obj runtime.Object) (runtime.Object, error)
	// Fields returns the resource-specific field labels for field selectors
	// (metadata.name and metadata.namespace are always present).
	Fields func(runtime.Object) fields.Set
}

// GVK is the resource's kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// GR is the resource's group and name, for error messages.
func (r *Resource) GR() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Name}
}

func (r *Resource) hasSub(s string) bool {
	for _, x := range r.Subresources {
		if x == s {
			return true
		}
	}
	return false
}

// APIVersion is "v1" or "group/version".
func (r *Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

var all = []string{"all"}

// Resources is the registry of served resources.
var Resources = []*Resource{
	{Version: "v1", Name: "namespaces", Singular: "namespace", Kind: "Namespace", ShortNames: []string{"ns"},
		Subresources: []string{"status", "finalize"},
		New:          func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		Fields: func(o runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(o.(*corev1.Namespace).Status.Phase)}
		}},
	{Version: "v1", Name: "pods", Singular: "pod", Kind: "Pod", Namespaced: true, ShortNames: []string{"po"}, Categories: all,
		Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward"},
		New:          func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
		Fields: podFields},
	{Version: "v1", Name: "services", Singular: "service", Kind: "Service", Namespaced: true, ShortNames: []string{"svc"}, Categories: all,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} }},
	{Version: "v1", Name: "endpoints", Singular: "endpoints", Kind: "Endpoints", Namespaced: true, ShortNames: []string{"ep"},
		New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} }},
	{Version: "v1", Name: "nodes", Singular: "node", Kind: "Node", ShortNames: []string{"no"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
		Fields: func(o runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": boolStr(o.(*corev1.Node).Spec.Unschedulable)}
		}},
	{Version: "v1", Name: "configmaps", Singular: "configmap", Kind: "ConfigMap", Namespaced: true, ShortNames: []string{"cm"},
		New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} }},
	{Version: "v1", Name: "secrets", Singular: "secret", Kind: "Secret", Namespaced: true,
		New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
		Fields: func(o runtime.Object) fields.Set { return fields.Set{"type": string(o.(*corev1.Secret).Type)} }},
	{Version: "v1", Name: "serviceaccounts", Singular: "serviceaccount", Kind: "ServiceAccount", Namespaced: true, ShortNames: []string{"sa"},
		Subresources: []string{"token"},
		New:          func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} }},
	{Version: "v1", Name: "events", Singular: "event", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"},
		New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
		Fields: eventFields},
	{Group: "apps", Version: "v1", Name: "deployments", Singular: "deployment", Kind: "Deployment", Namespaced: true, ShortNames: []string{"deploy"}, Categories: all,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} }},
	{Group: "apps", Version: "v1", Name: "replicasets", Singular: "replicaset", Kind: "ReplicaSet", Namespaced: true, ShortNames: []string{"rs"}, Categories: all,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} }},
	{Group: "apps", Version: "v1", Name: "daemonsets", Singular: "daemonset", Kind: "DaemonSet", Namespaced: true, ShortNames: []string{"ds"}, Categories: all,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &appsv1.DaemonSet{} }, NewList: func() runtime.Object { return &appsv1.DaemonSetList{} }},
	{Group: "batch", Version: "v1", Name: "jobs", Singular: "job", Kind: "Job", Namespaced: true, Categories: all,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} }},
	{Group: "discovery.k8s.io", Version: "v1", Name: "endpointslices", Singular: "endpointslice", Kind: "EndpointSlice", Namespaced: true,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} }},
	{Group: "authorization.k8s.io", Version: "v1", Name: "selfsubjectaccessreviews", Singular: "selfsubjectaccessreview", Kind: "SelfSubjectAccessReview",
		Virtual: true,
		New:     func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }, NewList: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }},
	{Group: "authentication.k8s.io", Version: "v1", Name: "selfsubjectreviews", Singular: "selfsubjectreview", Kind: "SelfSubjectReview",
		Virtual: true,
		New:     func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }, NewList: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }},
	{Group: "coordination.k8s.io", Version: "v1", Name: "leases", Singular: "lease", Kind: "Lease", Namespaced: true,
		New: func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} }},
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func podFields(o runtime.Object) fields.Set {
	p := o.(*corev1.Pod)
	s := fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         boolStr(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
	return s
}

func eventFields(o runtime.Object) fields.Set {
	e := o.(*corev1.Event)
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}

// lookup finds a resource by group, version and plural name.
func lookup(group, version, name string) *Resource {
	for _, r := range Resources {
		if r.Group == group && r.Version == version && r.Name == name {
			return r
		}
	}
	return nil
}

func init() {
	// Set here to avoid an initialization cycle through lookup.
	lookup("authorization.k8s.io", "v1", "selfsubjectaccessreviews").Create = selfSubjectAccessReview
	lookup("authentication.k8s.io", "v1", "selfsubjectreviews").Create = selfSubjectReview
}
