package validation

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// PrepareUpdate copies server-assigned values that a full update (PUT,
// `kubectl replace`) left out from old into obj, so that omitting them keeps
// them rather than failing as an immutable-field change: a Service's
// clusterIP(s), IP families and node ports, and a Job's generated selector
// and template labels. Like upstream, it also keeps the metadata the server
// owns: uid and resourceVersion when the update leaves them empty (an
// unconditional update; a stale non-empty resourceVersion is the storage
// layer's 409), creationTimestamp, deletionTimestamp and
// deletionGracePeriodSeconds always. Call it before Default and
// ValidateUpdate. Type-specific steps are skipped when obj and old differ in
// type.
func PrepareUpdate(obj, old runtime.Object) {
	if nm, err := meta.Accessor(obj); err == nil {
		if om, err := meta.Accessor(old); err == nil {
			if nm.GetUID() == "" {
				nm.SetUID(om.GetUID())
			}
			if nm.GetResourceVersion() == "" {
				nm.SetResourceVersion(om.GetResourceVersion())
			}
			nm.SetCreationTimestamp(om.GetCreationTimestamp())
			nm.SetDeletionTimestamp(om.GetDeletionTimestamp())
			nm.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
		}
	}
	switch o := obj.(type) {
	case *corev1.Service:
		if prev, ok := old.(*corev1.Service); ok {
			prepareService(o, prev)
		}
	case *batchv1.Job:
		if prev, ok := old.(*batchv1.Job); ok {
			prepareJob(o, prev)
		}
	}
}

func prepareService(s, old *corev1.Service) {
	if s.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if s.Spec.ClusterIP == "" && len(s.Spec.ClusterIPs) == 0 {
		s.Spec.ClusterIP = old.Spec.ClusterIP
		s.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
		if len(s.Spec.IPFamilies) == 0 {
			s.Spec.IPFamilies = append([]corev1.IPFamily(nil), old.Spec.IPFamilies...)
		}
		if s.Spec.IPFamilyPolicy == nil && old.Spec.IPFamilyPolicy != nil {
			p := *old.Spec.IPFamilyPolicy
			s.Spec.IPFamilyPolicy = &p
		}
	}
	usesNodePorts := func(t corev1.ServiceType) bool {
		return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
	}
	if !usesNodePorts(s.Spec.Type) || !usesNodePorts(old.Spec.Type) {
		return
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.NodePort != 0 {
			continue
		}
		for _, op := range old.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if op.Port == p.Port && op.Protocol == proto {
				p.NodePort = op.NodePort
				break
			}
		}
	}
	if s.Spec.HealthCheckNodePort == 0 && s.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		s.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

func prepareJob(j, old *batchv1.Job) {
	manual := j.Spec.ManualSelector != nil && *j.Spec.ManualSelector
	if manual || j.Spec.Selector != nil || old.Spec.Selector == nil {
		return
	}
	j.Spec.Selector = old.Spec.Selector.DeepCopy()
	for _, k := range []string{JobControllerUIDLabel, legacyJobControllerUIDLabel, JobNameLabel, legacyJobNameLabel} {
		if v, ok := old.Spec.Template.Labels[k]; ok {
			if _, set := j.Spec.Template.Labels[k]; !set {
				if j.Spec.Template.Labels == nil {
					j.Spec.Template.Labels = map[string]string{}
				}
				j.Spec.Template.Labels[k] = v
			}
		}
	}
}
