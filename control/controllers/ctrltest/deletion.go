package ctrltest

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// EmulateDeletion makes the fake clientset delete objects the way an API
// server does: a delete with propagationPolicy Foreground or Orphan (or of
// an object that has finalizers) only sets deletionTimestamp and adds the
// foregroundDeletion/orphan finalizer; an update that leaves a deleting
// object without finalizers (and, for a namespace, spec.finalizers)
// removes it.
func EmulateDeletion(c *fake.Clientset) {
	tr := c.Tracker()
	c.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteAction)
		obj, err := tr.Get(da.GetResource(), da.GetNamespace(), da.GetName())
		if err != nil {
			return false, nil, nil
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return false, nil, nil
		}
		fins := m.GetFinalizers()
		if p := da.GetDeleteOptions().PropagationPolicy; p != nil {
			switch *p {
			case metav1.DeletePropagationForeground:
				fins = addOnce(fins, metav1.FinalizerDeleteDependents)
			case metav1.DeletePropagationOrphan:
				fins = addOnce(fins, metav1.FinalizerOrphanDependents)
			}
		}
		if len(fins) == 0 {
			return false, nil, nil // plain delete
		}
		if m.GetDeletionTimestamp() == nil {
			now := metav1.Now()
			m.SetDeletionTimestamp(&now)
		}
		m.SetFinalizers(fins)
		return true, obj, tr.Update(da.GetResource(), obj, da.GetNamespace())
	})
	c.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ua := a.(k8stesting.UpdateAction)
		m, err := meta.Accessor(ua.GetObject())
		if err != nil || m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
			return false, nil, nil
		}
		if ns, ok := ua.GetObject().(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
			return false, nil, nil // spec.finalizers hold a namespace too
		}
		// Deleting and no finalizers left: the object goes away.
		return true, ua.GetObject(), tr.Delete(ua.GetResource(), ua.GetNamespace(), m.GetName())
	})
}

func addOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
