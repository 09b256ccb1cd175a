package ctrlutil

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// IsPodActive reports whether the pod counts toward a controller's replicas:
// not terminated and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
		p.DeletionTimestamp == nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := podReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodAvailable reports whether the pod has been Ready for at least
// minReadySeconds at time now. When it is ready but not yet available it also
// returns how long until it becomes available (0 otherwise).
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) (bool, time.Duration) {
	if !IsPodReady(p) {
		return false, 0
	}
	if minReadySeconds <= 0 {
		return true, 0
	}
	c := podReadyCondition(p)
	if c.LastTransitionTime.IsZero() {
		return true, 0
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if !now.Before(at) {
		return true, 0
	}
	return false, at.Sub(now)
}

// NewControllerRef returns an ownerReference marking owner as the managing
// controller, with blockOwnerDeletion so foreground deletion waits for it.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// PodFromTemplate builds the pod a controller creates from a template: the
// template's labels, annotations and spec, generateName "<prefix>-", and the
// controller ownerReference.
func PodFromTemplate(tpl *corev1.PodTemplateSpec, namespace, prefix string, ref *metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: GenerateNamePrefix(prefix),
			Labels:       copyMap(tpl.Labels),
			Annotations:  copyMap(tpl.Annotations),
			Finalizers:   append([]string(nil), tpl.Finalizers...),
		},
	}
	if ref != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	tpl.Spec.DeepCopyInto(&p.Spec)
	return p
}

// GenerateNamePrefix returns "<name>-", shortened so that the name the API
// server generates (prefix plus 5 random characters) stays within 63
// characters, the limit for a label value.
func GenerateNamePrefix(name string) string {
	const maxPrefix = 63 - 5
	p := name + "-"
	if len(p) > maxPrefix {
		p = p[:maxPrefix]
	}
	return p
}

// CreatePod creates pod through the API and wraps the error with what to do.
func CreatePod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	out, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s*: %w (will retry)", pod.Namespace, pod.GenerateName, err)
	}
	return out, nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CopyMap returns a shallow copy of m (nil stays nil).
func CopyMap(m map[string]string) map[string]string { return copyMap(m) }

// ControllerOf returns the controller ownerReference of obj, or nil.
func ControllerOf(obj metav1.Object) *metav1.OwnerReference {
	for _, r := range obj.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller {
			rc := r
			return &rc
		}
	}
	return nil
}

// SlowStart calls fn up to n times in batches of 1, 2, 4, ... so a failing
// template (bad quota, rejected spec) costs one call, not n. It returns how
// many calls were attempted and the first error.
func SlowStart(n int, fn func() error) (int, error) {
	done := 0
	for batch := 1; done < n; batch *= 2 {
		size := min(batch, n-done)
		errs := make(chan error, size)
		for i := 0; i < size; i++ {
			go func() { errs <- fn() }()
		}
		var first error
		for i := 0; i < size; i++ {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		done += size
		if first != nil {
			return done, first
		}
	}
	return done, nil
}
