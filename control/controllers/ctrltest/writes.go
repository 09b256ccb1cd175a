package ctrltest

import (
	"errors"
	"reflect"
	"strconv"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// statusResources have a status subresource: a write to the main resource
// keeps the stored status, and a status write keeps everything else.
var statusResources = map[string]bool{"deployments": true, "replicasets": true, "daemonsets": true, "jobs": true, "pods": true}

// EmulateWrites makes c's creates, updates and patches behave like an API
// server's for concurrency and the status subresource, which the plain fake
// clientset ignores:
//   - every write stamps a new metadata.resourceVersion;
//   - an update whose resourceVersion is set and differs from the stored one
//     fails with 409 Conflict, so a controller acting on a stale cache
//     cannot overwrite newer state;
//   - for deployments, replicasets, daemonsets, jobs and pods, an update of
//     the object keeps the stored status and an update of status keeps the
//     stored spec and metadata.
//
// Call it after NewClient and before any other reactor is added.
func EmulateWrites(c *fake.Clientset) {
	tr := c.Tracker()
	var rv atomic.Int64
	rv.Store(1000)
	stamp := func(o runtime.Object) {
		if m, err := meta.Accessor(o); err == nil {
			m.SetResourceVersion(strconv.FormatInt(rv.Add(1), 10))
		}
	}
	react := k8stesting.ObjectReaction(tr)
	c.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := react(a)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		pa := a.(k8stesting.PatchAction)
		stamp(obj)
		if err := tr.Update(pa.GetResource(), obj, pa.GetNamespace(), metav1.UpdateOptions{}); err != nil {
			return true, nil, err
		}
		return true, obj.DeepCopyObject(), nil
	})
	c.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ua := a.(k8stesting.UpdateAction)
		in := ua.GetObject().DeepCopyObject()
		m, err := meta.Accessor(in)
		if err != nil {
			return false, nil, nil
		}
		gvr := ua.GetResource()
		stored, err := tr.Get(gvr, ua.GetNamespace(), m.GetName())
		if err != nil {
			return true, nil, err
		}
		sm, _ := meta.Accessor(stored)
		if m.GetResourceVersion() != "" && m.GetResourceVersion() != sm.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), m.GetName(),
				errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		out := in
		if statusResources[gvr.Resource] {
			switch ua.GetSubresource() {
			case "status":
				out = stored.DeepCopyObject()
				copyStatus(out, in)
			case "":
				copyStatus(out, stored)
			}
		}
		stamp(out)
		if err := tr.Update(gvr, out, ua.GetNamespace(), metav1.UpdateOptions{}); err != nil {
			return true, nil, err
		}
		return true, out.DeepCopyObject(), nil
	})
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ca, ok := a.(k8stesting.CreateAction); ok && ca.GetSubresource() == "" {
			stamp(ca.GetObject())
		}
		return false, nil, nil
	})
}

// copyStatus sets dst.Status to src.Status (both pointers to the same
// struct type with a Status field).
func copyStatus(dst, src runtime.Object) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	if d.Type() != s.Type() {
		return
	}
	if f := d.FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(s.FieldByName("Status"))
	}
}
