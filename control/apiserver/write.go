package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffnet/skiff/control/apiserver/validation"
	"github.com/skiffnet/skiff/control/storage"
)

// generation is tracked for kinds whose controllers report observedGeneration.
var generationKinds = map[string]bool{"Deployment": true, "ReplicaSet": true, "DaemonSet": true, "Job": true, "Pod": true}

func dryRun(r *http.Request) (bool, error) {
	switch v := r.URL.Query()["dryRun"]; {
	case len(v) == 0:
		return false, nil
	case len(v) == 1 && v[0] == "All":
		return true, nil
	default:
		return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun must be All, not %q", strings.Join(v, ",")))
	}
}

func invalid(res *Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(res.GVK().GroupKind(), name, errs)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj := req.res.New()
	if err := decodeBody(w, r, body, req.res.GVK(), obj); err != nil {
		writeError(w, err)
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.nodeCreateAllowed(r, req.res, obj); err != nil {
		writeError(w, err)
		return
	}
	out, err := s.create(r.Context(), req.res, req.namespace, obj, dry)
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusCreated, req.res, out)
}

// checkNamespace returns 404 for a missing namespace and 403 for a
// terminating one, like upstream's NamespaceLifecycle admission.
func (s *Server) checkNamespace(ctx context.Context, ns string) error {
	var nsObj corev1.Namespace
	if _, err := s.Store.Get(ctx, storage.Key("namespaces", "", ns), &nsObj); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return apierrors.NewNotFound(schemaGR("", "namespaces"), ns)
		}
		return apierrors.NewInternalError(err)
	}
	if nsObj.DeletionTimestamp != nil || nsObj.Status.Phase == corev1.NamespaceTerminating {
		return apierrors.NewForbidden(schemaGR("", "namespaces"), ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// create prepares, validates, allocates for and stores a new object.
func (s *Server) create(ctx context.Context, res *Resource, ns string, obj runtime.Object, dry bool) (runtime.Object, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.Namespaced {
		if acc.GetNamespace() == "" {
			acc.SetNamespace(ns)
		} else if acc.GetNamespace() != ns {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		acc.SetNamespace("")
	}
	if acc.GetName() == "" && acc.GetGenerateName() != "" {
		acc.SetName(acc.GetGenerateName() + utilrand.String(5))
	}
	if acc.GetName() == "" {
		return nil, invalid(res, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if res.Namespaced {
		if err := s.checkNamespace(ctx, ns); err != nil {
			return nil, err
		}
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		if err := s.admitServiceAccount(ctx, pod); err != nil {
			return nil, err
		}
	}
	acc.SetUID(uuid.NewUUID())
	acc.SetCreationTimestamp(metav1.Now())
	acc.SetResourceVersion("")
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetSelfLink("")
	if generationKinds[res.Kind] {
		acc.SetGeneration(1)
	} else {
		acc.SetGeneration(0)
	}
	prepareCreate(obj)
	validation.Default(obj)
	if errs := validation.Validate(obj); len(errs) > 0 {
		return nil, invalid(res, acc.GetName(), errs)
	}
	setKind(res, obj)
	if dry {
		return obj, nil
	}
	release, err := s.allocate(ctx, obj, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Create(ctx, s.key(res, acc.GetNamespace(), acc.GetName()), obj); err != nil {
		release()
		return nil, storageErr(err, res, acc.GetName())
	}
	if res.Group == "" && res.Name == "namespaces" {
		s.ensureNamespaceDefaults(ctx, acc.GetName())
	}
	return obj, nil
}

// prepareCreate resets fields users may not set on create.
func prepareCreate(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if len(o.Spec.Finalizers) == 0 {
			o.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
		}
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels["kubernetes.io/metadata.name"] = o.Name
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending}
		if o.Spec.NodeName != "" {
			o.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	default:
		resetStatus(obj)
	}
}

// resetStatus zeroes a Status field for workload kinds.
func resetStatus(obj runtime.Object) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer {
		return
	}
	v = v.Elem()
	switch v.Type().Name() {
	case "Deployment", "ReplicaSet", "DaemonSet", "Job":
		f := v.FieldByName("Status")
		if f.IsValid() && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// mutateFunc produces the desired object from a copy of the current one.
type mutateFunc func(cur runtime.Object) (runtime.Object, error)

// update applies mutate to the current object with optimistic concurrency,
// retrying when the stored object moved and the caller did not pin a
// resourceVersion. sub is "", "status" or "finalize".
func (s *Server) update(ctx context.Context, res *Resource, ns, name, sub string, dry bool, mutate mutateFunc) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.getObject(ctx, res, ns, name)
		if err != nil {
			return nil, err
		}
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		oldAcc, _ := meta.Accessor(cur)
		acc, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if acc.GetName() != name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), name))
		}
		if res.Namespaced && acc.GetNamespace() != "" && acc.GetNamespace() != ns {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if rv := acc.GetResourceVersion(); rv != "" && rv != oldAcc.GetResourceVersion() {
			return nil, conflict(res, name)
		}
		if uid := acc.GetUID(); uid != "" && uid != oldAcc.GetUID() {
			return nil, apierrors.NewConflict(res.GR(), name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, oldAcc.GetUID()))
		}
		obj, err = applySubresource(res, sub, cur, obj)
		if err != nil {
			return nil, err
		}
		acc, _ = meta.Accessor(obj)
		acc.SetNamespace(oldAcc.GetNamespace())
		acc.SetUID(oldAcc.GetUID())
		acc.SetCreationTimestamp(oldAcc.GetCreationTimestamp())
		acc.SetDeletionTimestamp(oldAcc.GetDeletionTimestamp())
		acc.SetDeletionGracePeriodSeconds(oldAcc.GetDeletionGracePeriodSeconds())
		acc.SetResourceVersion(oldAcc.GetResourceVersion())
		acc.SetGeneration(oldAcc.GetGeneration())
		if oldAcc.GetDeletionTimestamp() != nil && len(acc.GetFinalizers()) > len(oldAcc.GetFinalizers()) && hasNewFinalizer(acc.GetFinalizers(), oldAcc.GetFinalizers()) {
			return nil, invalid(res, name, field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"), "no new finalizers can be added if the object is being deleted")})
		}
		dropTypeDependentFields(obj, cur)
		validation.Default(obj)
		if generationKinds[res.Kind] && specChanged(cur, obj) {
			acc.SetGeneration(oldAcc.GetGeneration() + 1)
		}
		if errs := validation.ValidateUpdate(obj, cur); len(errs) > 0 {
			return nil, invalid(res, name, errs)
		}
		setKind(res, obj)
		if dry {
			return obj, nil
		}
		if readyToDelete(obj) {
			if _, err := s.Store.Delete(ctx, s.key(res, ns, name), rev); err != nil {
				if errors.Is(err, storage.ErrConflict) && attempt < 20 {
					continue
				}
				return nil, storageErr(err, res, name)
			}
			s.release(ctx, obj)
			return obj, nil
		}
		release, err := s.allocate(ctx, obj, cur)
		if err != nil {
			return nil, err
		}
		if err := s.Store.Update(ctx, s.key(res, ns, name), obj, rev); err != nil {
			release()
			if errors.Is(err, storage.ErrConflict) && attempt < 20 {
				continue
			}
			return nil, storageErr(err, res, name)
		}
		s.releaseOld(ctx, obj, cur)
		return obj, nil
	}
}

func hasNewFinalizer(now, old []string) bool {
	have := map[string]bool{}
	for _, f := range old {
		have[f] = true
	}
	for _, f := range now {
		if !have[f] {
			return true
		}
	}
	return false
}

// readyToDelete reports whether an object being deleted has no finalizers
// left and no grace period running.
func readyToDelete(obj runtime.Object) bool {
	acc, _ := meta.Accessor(obj)
	if acc.GetDeletionTimestamp() == nil || len(acc.GetFinalizers()) > 0 {
		return false
	}
	if g := acc.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	return true
}

func toMap(obj runtime.Object) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}

// specChanged reports whether anything outside metadata and status changed.
// Typed objects are compared field by field (semantically: nil and empty
// slices and maps are equal, as they are once serialized); others through
// their unstructured form.
func specChanged(a, b runtime.Object) bool {
	if av, bv, ok := sameStruct(a, b); ok {
		t := av.Type()
		for i := 0; i < t.NumField(); i++ {
			switch t.Field(i).Name {
			case "TypeMeta", "ObjectMeta", "Status":
				continue
			}
			if !equality.Semantic.DeepEqual(av.Field(i).Interface(), bv.Field(i).Interface()) {
				return true
			}
		}
		return false
	}
	am, err1 := toMap(a)
	bm, err2 := toMap(b)
	if err1 != nil || err2 != nil {
		return true
	}
	for _, k := range []string{"metadata", "status", "apiVersion", "kind"} {
		delete(am, k)
		delete(bm, k)
	}
	return !reflect.DeepEqual(am, bm)
}

// applySubresource keeps the parts of cur that the written endpoint may
// not change: status on the main resource, everything but status on
// /status, everything but spec.finalizers on namespaces' /finalize.
func applySubresource(res *Resource, sub string, cur, obj runtime.Object) (runtime.Object, error) {
	if sub == "" && !res.hasSub("status") {
		return obj, nil
	}
	if out, ok := applyStatusTyped(sub, cur, obj); ok {
		return out, nil
	}
	cm, err := toMap(cur)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	om, err := toMap(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	var out map[string]any
	switch sub {
	case "":
		out = om
		if st, ok := cm["status"]; ok {
			out["status"] = st
		} else {
			delete(out, "status")
		}
	case "status":
		out = cm
		if st, ok := om["status"]; ok {
			out["status"] = st
		} else {
			delete(out, "status")
		}
		// Labels and annotations may change through status too (the kubelet does).
		if md, ok := om["metadata"].(map[string]any); ok {
			cmd := out["metadata"].(map[string]any)
			for _, k := range []string{"labels", "annotations", "resourceVersion"} {
				if v, ok := md[k]; ok {
					cmd[k] = v
				} else {
					delete(cmd, k)
				}
			}
		}
	case "finalize":
		out = cm
		spec, _ := om["spec"].(map[string]any)
		cspec, _ := out["spec"].(map[string]any)
		if cspec == nil {
			cspec = map[string]any{}
			out["spec"] = cspec
		}
		if f, ok := spec["finalizers"]; ok {
			cspec["finalizers"] = f
		} else {
			delete(cspec, "finalizers")
		}
		if md, ok := om["metadata"].(map[string]any); ok {
			if v, ok := md["resourceVersion"]; ok {
				out["metadata"].(map[string]any)["resourceVersion"] = v
			}
		}
	default:
		return obj, nil
	}
	n := res.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(out, n); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return n, nil
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj := req.res.New()
	if err := decodeBody(w, r, body, req.res.GVK(), obj); err != nil {
		writeError(w, err)
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.update(r.Context(), req.res, req.namespace, req.name, req.sub, dry, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusOK, req.res, out)
}

var _ = time.Second

// dropTypeDependentFields clears Service fields that only make sense for
// the old type when the user changed the type but left them as they were.
func dropTypeDependentFields(obj, old runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	prev := old.(*corev1.Service)
	if svc.Spec.Type == prev.Spec.Type {
		return
	}
	if !usesNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			for _, op := range prev.Spec.Ports {
				if svc.Spec.Ports[i].NodePort != 0 && op.NodePort == svc.Spec.Ports[i].NodePort {
					svc.Spec.Ports[i].NodePort = 0
				}
			}
		}
		if svc.Spec.ExternalTrafficPolicy == prev.Spec.ExternalTrafficPolicy {
			svc.Spec.ExternalTrafficPolicy = ""
		}
		if svc.Spec.HealthCheckNodePort == prev.Spec.HealthCheckNodePort {
			svc.Spec.HealthCheckNodePort = 0
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == prev.Spec.ClusterIP {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = "", nil, nil, nil
	}
}

// sameStruct returns the structs behind two pointers of one typed kind.
func sameStruct(a, b runtime.Object) (reflect.Value, reflect.Value, bool) {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	if av.Kind() != reflect.Pointer || bv.Kind() != reflect.Pointer || av.Type() != bv.Type() ||
		av.IsNil() || bv.IsNil() || av.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, reflect.Value{}, false
	}
	return av.Elem(), bv.Elem(), true
}

// applyStatusTyped is applySubresource for "" and "status" on typed objects
// with a Status field, without the round trip through unstructured maps
// (a large share of the server's allocations on busy clusters).
func applyStatusTyped(sub string, cur, obj runtime.Object) (runtime.Object, bool) {
	if sub != "" && sub != "status" {
		return nil, false
	}
	cv, ov, ok := sameStruct(cur, obj)
	if !ok || !cv.FieldByName("Status").IsValid() {
		return nil, false
	}
	if sub == "" {
		ov.FieldByName("Status").Set(cv.FieldByName("Status"))
		return obj, true
	}
	out := cur.DeepCopyObject()
	outV := reflect.ValueOf(out).Elem()
	outV.FieldByName("Status").Set(ov.FieldByName("Status"))
	// Labels and annotations may change through status too (the kubelet does).
	om, err1 := meta.Accessor(obj)
	outM, err2 := meta.Accessor(out)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	outM.SetLabels(om.GetLabels())
	outM.SetAnnotations(om.GetAnnotations())
	outM.SetResourceVersion(om.GetResourceVersion())
	return out, true
}
