package validation

import (
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxDataSize is the limit on a ConfigMap's or Secret's total data size.
const MaxDataSize = 1 << 20

// maxSliceEndpoints is the most endpoints one EndpointSlice may hold.
const maxSliceEndpoints = 1000

func validateEndpointPort(name string, port int32, proto corev1.Protocol, multiple bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" && multiple {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else if name != "" {
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
	}
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p.Child("port"), port, msg))
	}
	return append(errs, validateProtocol(proto, p.Child("protocol"))...)
}

func validateEndpoints(e *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validation.IsValidIP(sp.Child("addresses").Index(j).Child("ip"), a.IP)...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validation.IsValidIP(sp.Child("notReadyAddresses").Index(j).Child("ip"), a.IP)...)
		}
		for j, port := range ss.Ports {
			errs = append(errs, validateEndpointPort(port.Name, port.Port, port.Protocol, len(ss.Ports) > 1, sp.Child("ports").Index(j))...)
		}
	}
	return errs
}

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	types := []string{string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN)}
	if !contains(types, string(s.AddressType)) {
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, types))
	}
	if len(s.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(field.NewPath("endpoints"), len(s.Endpoints), maxSliceEndpoints))
	}
	for i, ep := range s.Endpoints {
		ap := field.NewPath("endpoints").Index(i).Child("addresses")
		if len(ep.Addresses) == 0 || len(ep.Addresses) > 100 {
			errs = append(errs, field.Invalid(ap, len(ep.Addresses), "must contain between 1 and 100 addresses"))
		}
		for j, a := range ep.Addresses {
			switch s.AddressType {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				ipErrs := validation.IsValidIP(ap.Index(j), a)
				errs = append(errs, ipErrs...)
				if len(ipErrs) == 0 && (s.AddressType == discoveryv1.AddressTypeIPv4) != isIPv4(a) {
					errs = append(errs, field.Invalid(ap.Index(j), a, "must be an "+string(s.AddressType)+" address"))
				}
			case discoveryv1.AddressTypeFQDN:
				for _, msg := range validation.IsDNS1123Subdomain(a) {
					errs = append(errs, field.Invalid(ap.Index(j), a, msg))
				}
			}
		}
	}
	for i, port := range s.Ports {
		pp := field.NewPath("ports").Index(i)
		if port.Name != nil && *port.Name != "" {
			for _, msg := range validation.IsDNS1123Label(*port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), *port.Name, msg))
			}
		}
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				errs = append(errs, field.Invalid(pp.Child("port"), *port.Port, msg))
			}
		}
		if port.Protocol != nil {
			errs = append(errs, validateProtocol(*port.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func isIPv4(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return false
		}
	}
	return true
}

func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if n.Spec.PodCIDR != "" {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDR"), n.Spec.PodCIDR)...)
	}
	for i, c := range n.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDR(specPath.Child("podCIDRs").Index(i), c)...)
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs").Index(0), n.Spec.PodCIDRs[0], "must match `podCIDR`"))
	}
	type tk struct {
		key    string
		effect corev1.TaintEffect
	}
	seen := map[tk]bool{}
	for i, t := range n.Spec.Taints {
		tp := specPath.Child("taints").Index(i)
		if t.Key == "" {
			errs = append(errs, field.Required(tp.Child("key"), ""))
		} else {
			for _, msg := range validation.IsQualifiedName(t.Key) {
				errs = append(errs, field.Invalid(tp.Child("key"), t.Key, msg))
			}
		}
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(tp.Child("value"), t.Value, msg))
			}
		}
		if !contains(taintEffects, string(t.Effect)) {
			errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect, taintEffects))
		}
		k := tk{t.Key, t.Effect}
		if seen[k] {
			errs = append(errs, field.Duplicate(tp, fmt.Sprintf("%s:%s", t.Key, t.Effect)))
		}
		seen[k] = true
	}
	return errs
}

// validateNodeUpdate keeps an assigned pod CIDR.
func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	if old.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR {
		return field.ErrorList{field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid")}
	}
	return nil
}

func validateDataKeys(keys []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range keys {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
	}
	return errs
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	var keys []string
	for k, v := range cm.Data {
		keys = append(keys, k)
		size += len(v)
	}
	errs = append(errs, validateDataKeys(keys, field.NewPath("data"))...)
	keys = keys[:0]
	for k, v := range cm.BinaryData {
		keys = append(keys, k)
		size += len(v)
		if _, dup := cm.Data[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, "duplicate of key present in data"))
		}
	}
	errs = append(errs, validateDataKeys(keys, field.NewPath("binaryData"))...)
	if size > MaxDataSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxDataSize))
	}
	return errs
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	size := 0
	var keys []string
	for k, v := range s.Data {
		keys = append(keys, k)
		size += len(v)
	}
	errs = append(errs, validateDataKeys(keys, field.NewPath("data"))...)
	keys = keys[:0]
	for k, v := range s.StringData {
		keys = append(keys, k)
		size += len(v)
	}
	errs = append(errs, validateDataKeys(keys, field.NewPath("stringData"))...)
	if size > MaxDataSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", MaxDataSize))
	}
	has := func(k string) bool {
		_, a := s.Data[k]
		_, b := s.StringData[k]
		return a || b
	}
	dp := field.NewPath("data")
	switch s.Type {
	case corev1.SecretTypeTLS:
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if !has(k) {
				errs = append(errs, field.Required(dp.Key(k), ""))
			}
		}
	case corev1.SecretTypeDockerConfigJson:
		if !has(corev1.DockerConfigJsonKey) {
			errs = append(errs, field.Required(dp.Key(corev1.DockerConfigJsonKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		if !has(corev1.DockerConfigKey) {
			errs = append(errs, field.Required(dp.Key(corev1.DockerConfigKey), ""))
		}
	case corev1.SecretTypeBasicAuth:
		if !has(corev1.BasicAuthUsernameKey) && !has(corev1.BasicAuthPasswordKey) {
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthUsernameKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if !has(corev1.SSHAuthPrivateKey) {
			errs = append(errs, field.Required(dp.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	}
	return errs
}

// validateImmutableData forbids data changes once immutable is true, and
// unsetting immutable.
func validateImmutableData(imm, oldImm *bool, data, oldData map[string]string, bin, oldBin map[string][]byte) field.ErrorList {
	if oldImm == nil || !*oldImm {
		return nil
	}
	var errs field.ErrorList
	if imm == nil || !*imm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if !apiequality.Semantic.DeepEqual(data, oldData) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	if !apiequality.Semantic.DeepEqual(bin, oldBin) {
		p := field.NewPath("binaryData")
		if data == nil && oldData == nil {
			p = field.NewPath("data")
		}
		errs = append(errs, field.Forbidden(p, "field is immutable when `immutable` is set"))
	}
	return errs
}

func validateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	if e.InvolvedObject.Namespace != "" && e.Namespace != "" && e.InvolvedObject.Namespace != e.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.InvolvedObject.Namespace,
			"does not match event.namespace"))
	}
	if e.Type != "" && e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.NotSupported(field.NewPath("type"), e.Type, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
	}
	if len(e.Message) > 4096 {
		errs = append(errs, field.TooLong(field.NewPath("message"), "", 4096))
	}
	return errs
}

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	var errs field.ErrorList
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := l.Spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *t, "must be greater than or equal to 0"))
	}
	return errs
}
