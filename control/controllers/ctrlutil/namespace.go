package ctrlutil

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// ActiveNamespace reports whether namespace name exists in the lister's
// cache and is not being deleted: controllers that keep an object in every
// namespace leave a terminating one alone.
func ActiveNamespace(l corelisters.NamespaceLister, name string) (bool, error) {
	ns, err := l.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating, nil
}
