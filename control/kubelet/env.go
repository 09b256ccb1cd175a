package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// envSource is what container environment resolution needs besides the pod.
type envSource struct {
	client   kubernetes.Interface
	nodeName string
	podIP    string
	hostIP   string
	services *ServiceCache // nil: Services are read from the API
}

// resolveEnv builds a container's environment: Service variables first,
// then envFrom, then env in
// order, each value expanded with $(VAR) against what came before. A
// missing non-optional ConfigMap, Secret or key is an error (the container
// waits with CreateContainerConfigError).
func resolveEnv(ctx context.Context, src envSource, pod *v1.Pod, c *v1.Container) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	cms := map[string]*v1.ConfigMap{}
	secs := map[string]*v1.Secret{}
	getCM := func(name string) (*v1.ConfigMap, error) {
		if cm, ok := cms[name]; ok {
			return cm, nil
		}
		cm, err := src.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		cms[name] = cm
		return cm, nil
	}
	getSecret := func(name string) (*v1.Secret, error) {
		if s, ok := secs[name]; ok {
			return s, nil
		}
		s, err := src.client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		secs[name] = s
		return s, nil
	}
	svc, err := serviceEnv(ctx, src, pod)
	if err != nil {
		return nil, err
	}
	for _, kv := range svc {
		set(kv[0], kv[1])
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := getCM(ef.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom configmap %q: %w", ef.ConfigMapRef.Name, err)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(ef.Prefix+k, cm.Data[k])
			}
		case ef.SecretRef != nil:
			s, err := getSecret(ef.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom secret %q: %w", ef.SecretRef.Name, err)
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				set(ef.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandVars(e.Value, vars))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := fieldValue(pod, vf.FieldRef.FieldPath, src)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			r := vf.ConfigMapKeyRef
			optional := r.Optional != nil && *r.Optional
			cm, err := getCM(r.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("env %s: configmap %q: %w", e.Name, r.Name, err)
			}
			v, ok := cm.Data[r.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("env %s: configmap %q has no key %q", e.Name, r.Name, r.Key)
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			r := vf.SecretKeyRef
			optional := r.Optional != nil && *r.Optional
			s, err := getSecret(r.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("env %s: secret %q: %w", e.Name, r.Name, err)
			}
			v, ok := s.Data[r.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("env %s: secret %q has no key %q", e.Name, r.Name, r.Key)
			}
			set(e.Name, string(v))
		case vf.ResourceFieldRef != nil:
			v, err := resourceFieldValue(c, vf.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		default:
			return nil, fmt.Errorf("env %s: valueFrom names no source", e.Name)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fieldValue answers a downward-API fieldRef.
func fieldValue(pod *v1.Pod, path string, src envSource) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		if pod.Spec.NodeName != "" {
			return pod.Spec.NodeName, nil
		}
		return src.nodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return src.podIP, nil
	case "status.hostIP", "status.hostIPs":
		return src.hostIP, nil
	}
	for _, p := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if strings.HasPrefix(path, p.prefix) && strings.HasSuffix(path, "']") {
			return p.m[strings.TrimSuffix(strings.TrimPrefix(path, p.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q (use metadata.name, metadata.namespace, metadata.uid, spec.nodeName, status.podIP, status.hostIP, metadata.labels['k'] or metadata.annotations['k'])", path)
}

func resourceFieldValue(c *v1.Container, r *v1.ResourceFieldSelector) (string, error) {
	div := r.Divisor
	var name v1.ResourceName
	var list v1.ResourceList
	switch r.Resource {
	case "limits.cpu":
		name, list = v1.ResourceCPU, c.Resources.Limits
	case "limits.memory":
		name, list = v1.ResourceMemory, c.Resources.Limits
	case "requests.cpu":
		name, list = v1.ResourceCPU, c.Resources.Requests
	case "requests.memory":
		name, list = v1.ResourceMemory, c.Resources.Requests
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", r.Resource)
	}
	q, ok := list[name]
	if !ok {
		return "0", nil
	}
	if name == v1.ResourceCPU {
		d := int64(1000)
		if !div.IsZero() {
			d = div.MilliValue()
		}
		return fmt.Sprint((q.MilliValue() + d - 1) / d), nil
	}
	d := int64(1)
	if !div.IsZero() {
		d = div.Value()
	}
	return fmt.Sprint((q.Value() + d - 1) / d), nil
}

// expandVars replaces $(NAME) with earlier variables; $$ is a literal $,
// and unknown references stay as written, as Kubernetes does.
func expandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
