package validation

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	serviceTypes = []string{string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort),
		string(corev1.ServiceTypeLoadBalancer), string(corev1.ServiceTypeExternalName)}
	affinities       = []string{string(corev1.ServiceAffinityClientIP), string(corev1.ServiceAffinityNone)}
	externalPolicies = []string{string(corev1.ServiceExternalTrafficPolicyCluster), string(corev1.ServiceExternalTrafficPolicyLocal)}
	internalPolicies = []string{string(corev1.ServiceInternalTrafficPolicyCluster), string(corev1.ServiceInternalTrafficPolicyLocal)}
	familyPolicies   = []string{string(corev1.IPFamilyPolicySingleStack), string(corev1.IPFamilyPolicyPreferDualStack), string(corev1.IPFamilyPolicyRequireDualStack)}
)

func validateService(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &s.Spec
	typ := spec.Type
	if typ == "" {
		typ = corev1.ServiceTypeClusterIP
	}
	if !contains(serviceTypes, string(typ)) {
		errs = append(errs, field.NotSupported(specPath.Child("type"), typ, serviceTypes))
	}
	headless := spec.ClusterIP == corev1.ClusterIPNone

	switch typ {
	case corev1.ServiceTypeExternalName:
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if spec.ExternalName == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(trimDot(spec.ExternalName)) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), spec.ExternalName, msg))
			}
		}
	default:
		if len(spec.Ports) == 0 && !headless {
			errs = append(errs, field.Required(specPath.Child("ports"), ""))
		}
	}
	if spec.ClusterIP != "" && !headless {
		errs = append(errs, validation.IsValidIP(specPath.Child("clusterIP"), spec.ClusterIP)...)
	}
	if headless && (typ == corev1.ServiceTypeNodePort || typ == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(specPath.Child("clusterIP"), spec.ClusterIP,
			"may not be set to 'None' for "+string(typ)+" services"))
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIP != "" && spec.ClusterIPs[0] != spec.ClusterIP {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs,
			"must be equal to `clusterIP` when both are set"))
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.TooMany(specPath.Child("clusterIPs"), len(spec.ClusterIPs), 2))
	}

	names := sets.New[string]()
	type key struct {
		port  int32
		proto corev1.Protocol
	}
	seen := map[key]bool{}
	seenNode := map[key]bool{}
	for i, p := range spec.Ports {
		pp := specPath.Child("ports").Index(i)
		if len(spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		if p.TargetPort.Type == intstr.String || p.TargetPort.IntVal != 0 {
			errs = append(errs, validatePortRef(p.TargetPort, pp.Child("targetPort"))...)
		}
		k := key{p.Port, p.Protocol}
		if seen[k] {
			errs = append(errs, field.Duplicate(pp, p))
		}
		seen[k] = true
		if p.NodePort != 0 {
			if typ != corev1.ServiceTypeNodePort && typ != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is '"+string(typ)+"'"))
			}
			for _, msg := range validation.IsValidPortNum(int(p.NodePort)) {
				errs = append(errs, field.Invalid(pp.Child("nodePort"), p.NodePort, msg))
			}
			nk := key{p.NodePort, p.Protocol}
			if seenNode[nk] {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), p.NodePort))
			}
			seenNode[nk] = true
		}
		if p.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*p.AppProtocol) {
				errs = append(errs, field.Invalid(pp.Child("appProtocol"), *p.AppProtocol, msg))
			}
		}
	}

	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	if spec.SessionAffinity != "" && !contains(affinities, string(spec.SessionAffinity)) {
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, affinities))
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP && spec.SessionAffinityConfig != nil &&
		spec.SessionAffinityConfig.ClientIP != nil && spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != nil {
		t := *spec.SessionAffinityConfig.ClientIP.TimeoutSeconds
		if t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t,
				"must be greater than 0 and less than 86400"))
		}
	}
	if spec.ExternalTrafficPolicy != "" {
		if typ != corev1.ServiceTypeNodePort && typ != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
				"may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
		} else if !contains(externalPolicies, string(spec.ExternalTrafficPolicy)) {
			errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, externalPolicies))
		}
	}
	if p := spec.InternalTrafficPolicy; p != nil && !contains(internalPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p, internalPolicies))
	}
	if p := spec.IPFamilyPolicy; p != nil && !contains(familyPolicies, string(*p)) {
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p, familyPolicies))
	}
	for i, f := range spec.IPFamilies {
		if f != corev1.IPv4Protocol && f != corev1.IPv6Protocol {
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilies").Index(i), f, []string{"IPv4", "IPv6"}))
		}
	}
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
		if a, err := netip.ParseAddr(ip); err == nil && (a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast()) {
			errs = append(errs, field.Invalid(specPath.Child("externalIPs").Index(i), ip, "may not be loopback, link-local or unspecified"))
		}
	}
	return errs
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// validateServiceUpdate keeps an allocated clusterIP: it may change only
// when the service becomes or stops being ExternalName. An empty clusterIP
// in the update means "keep" (see PrepareUpdate).
func validateServiceUpdate(s, old *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	toOrFromExternal := s.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName
	if !toOrFromExternal && old.Spec.ClusterIP != "" && s.Spec.ClusterIP != "" && s.Spec.ClusterIP != old.Spec.ClusterIP {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(s.Spec.ClusterIP, old.Spec.ClusterIP, specPath.Child("clusterIP"))...)
	}
	return errs
}
