package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffnet/skiff/control/storage"
)

// deleteOptions reads DeleteOptions from the body (kubectl sends one with
// no kind) and the query string.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/vnd.kubernetes.protobuf") {
		if _, _, err := protoSer.Decode(body, &schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "DeleteOptions"}, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions body: %v", err))
		}
	} else if len(body) > 0 {
		if err := json.Unmarshal(body, opts); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions body: %v", err))
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("gracePeriodSeconds must be an integer")
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy == nil {
		pp := metav1.DeletePropagationBackground
		if *opts.OrphanDependents {
			pp = metav1.DeletePropagationOrphan
		}
		opts.PropagationPolicy = &pp
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy must be Background, Foreground or Orphan, not %q", *opts.PropagationPolicy))
		}
	}
	if len(q["dryRun"]) > 0 {
		opts.DryRun = q["dryRun"]
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, req *request) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.deleteObject(r.Context(), req.res, req.namespace, req.name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	s.reply(w, r, http.StatusOK, req.res, out)
}

// deleteObject deletes one object, honouring preconditions, finalizers,
// propagation policy and pod grace periods. It returns the object as last
// seen (with deletionTimestamp when deletion is pending).
func (s *Server) deleteObject(ctx context.Context, res *Resource, ns, name string, opts *metav1.DeleteOptions) (runtime.Object, error) {
	dry := len(opts.DryRun) > 0
	for attempt := 0; attempt < 20; attempt++ {
		cur, rev, err := s.getObject(ctx, res, ns, name)
		if err != nil {
			return nil, err
		}
		acc, _ := meta.Accessor(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != acc.GetUID() {
				return nil, apierrors.NewConflict(res.GR(), name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, acc.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
				return nil, apierrors.NewConflict(res.GR(), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, acc.GetResourceVersion()))
			}
		}
		obj := cur.DeepCopyObject()
		acc, _ = meta.Accessor(obj)
		changed := false
		now := metav1.Now()
		if opts.PropagationPolicy != nil {
			switch *opts.PropagationPolicy {
			case metav1.DeletePropagationOrphan:
				changed = addFinalizer(acc, metav1.FinalizerOrphanDependents) || changed
			case metav1.DeletePropagationForeground:
				changed = addFinalizer(acc, metav1.FinalizerDeleteDependents) || changed
			}
		}
		graceful := false
		switch o := obj.(type) {
		case *corev1.Namespace:
			if o.Status.Phase != corev1.NamespaceTerminating {
				o.Status.Phase = corev1.NamespaceTerminating
				changed = true
			}
			if len(o.Spec.Finalizers) > 0 {
				graceful = true
			}
		case *corev1.Pod:
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if o.Spec.TerminationGracePeriodSeconds != nil {
				grace = *o.Spec.TerminationGracePeriodSeconds
			}
			if opts.GracePeriodSeconds != nil {
				grace = *opts.GracePeriodSeconds
			}
			if o.Spec.NodeName == "" || o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
				grace = 0
			}
			if grace > 0 {
				graceful = true
				if o.DeletionGracePeriodSeconds == nil || *o.DeletionGracePeriodSeconds > grace {
					until := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
					o.DeletionTimestamp = &until
					o.DeletionGracePeriodSeconds = &grace
					changed = true
				}
			} else if o.DeletionGracePeriodSeconds != nil && *o.DeletionGracePeriodSeconds != 0 {
				zero := int64(0)
				o.DeletionGracePeriodSeconds = &zero
				changed = true
			}
		}
		if len(acc.GetFinalizers()) > 0 {
			graceful = true
		}
		if graceful {
			if acc.GetDeletionTimestamp() == nil {
				acc.SetDeletionTimestamp(&now)
				if acc.GetDeletionGracePeriodSeconds() == nil {
					zero := int64(0)
					acc.SetDeletionGracePeriodSeconds(&zero)
				}
				changed = true
			}
			if !changed || dry {
				setKind(res, obj)
				return obj, nil
			}
			if err := s.Store.Update(ctx, s.key(res, ns, name), obj, rev); err != nil {
				if errors.Is(err, storage.ErrConflict) {
					continue
				}
				return nil, storageErr(err, res, name)
			}
			setKind(res, obj)
			return obj, nil
		}
		if dry {
			return obj, nil
		}
		if _, err := s.Store.Delete(ctx, s.key(res, ns, name), rev); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			return nil, storageErr(err, res, name)
		}
		s.release(ctx, cur)
		return cur, nil
	}
	return nil, apierrors.NewConflict(res.GR(), name, errors.New("the object kept changing during deletion; try again"))
}

func addFinalizer(acc metav1.Object, f string) bool {
	for _, x := range acc.GetFinalizers() {
		if x == f {
			return false
		}
	}
	acc.SetFinalizers(append(acc.GetFinalizers(), f))
	return true
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, req *request) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sel, err := parseSelector(r, req.res)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	q.Del("limit")
	q.Del("continue")
	r.URL.RawQuery = q.Encode()
	list, err := s.listObjects(r.Context(), r, req.res, req.namespace, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	items, _ := meta.ExtractList(list)
	var deleted []runtime.Object
	for _, it := range items {
		acc, _ := meta.Accessor(it)
		out, err := s.deleteObject(r.Context(), req.res, acc.GetNamespace(), acc.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeError(w, err)
			return
		}
		deleted = append(deleted, out)
	}
	if deleted == nil {
		deleted = []runtime.Object{}
	}
	meta.SetList(list, deleted)
	s.reply(w, r, http.StatusOK, req.res, list)
}
