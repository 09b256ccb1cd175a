package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// scaleOf builds the autoscaling/v1 Scale view of a Deployment or ReplicaSet.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	var om metav1.ObjectMeta
	var replicas, cur int32
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		om, sel, cur = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			replicas = *o.Spec.Replicas
		}
	case *appsv1.ReplicaSet:
		om, sel, cur = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			replicas = *o.Spec.Replicas
		}
	default:
		return nil, fmt.Errorf("%T has no scale subresource", obj)
	}
	selStr := ""
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil {
			selStr = s.String()
		}
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: om.Name, Namespace: om.Namespace, UID: om.UID,
			ResourceVersion: om.ResourceVersion, CreationTimestamp: om.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: cur, Selector: selStr},
	}, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	}
}

func (s *Server) handleGetScale(w http.ResponseWriter, r *http.Request, req *request) {
	obj, _, err := s.getObject(r.Context(), req.res, req.namespace, req.name)
	if err != nil {
		writeError(w, err)
		return
	}
	sc, err := scaleOf(obj)
	if err != nil {
		writeError(w, apierrors.NewInternalError(err))
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// writeScale applies the desired Scale (from newScale, given the current
// one) to the parent object.
func (s *Server) writeScale(w http.ResponseWriter, r *http.Request, req *request, newScale func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)) {
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.update(r.Context(), req.res, req.namespace, req.name, "", dry, func(cur runtime.Object) (runtime.Object, error) {
		cs, err := scaleOf(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		ns, err := newScale(cs)
		if err != nil {
			return nil, err
		}
		if ns.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), req.name, fieldErrs("spec.replicas", ns.Spec.Replicas, "must be greater than or equal to 0"))
		}
		if ns.ResourceVersion != "" && ns.ResourceVersion != cs.ResourceVersion {
			return nil, conflict(req.res, req.name)
		}
		setReplicas(cur, ns.Spec.Replicas)
		return cur, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	sc, _ := scaleOf(out)
	writeJSON(w, http.StatusOK, sc)
}

func (s *Server) handlePutScale(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	in := &autoscalingv1.Scale{}
	if err := decodeBody(w, r, body, scaleGVK, in); err != nil {
		writeError(w, err)
		return
	}
	s.writeScale(w, r, req, func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) { return in, nil })
}

func (s *Server) handlePatchScale(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeScale(w, r, req, func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		cj, _ := json.Marshal(cur)
		pj, err := applyPatch(r, cj, body, &autoscalingv1.Scale{})
		if err != nil {
			return nil, err
		}
		out := &autoscalingv1.Scale{}
		if _, err := decodeJSON(w, r, pj, scaleGVK, out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b := &corev1.Binding{}
	if err := decodeBody(w, r, body, corev1.SchemeGroupVersion.WithKind("Binding"), b); err != nil {
		writeError(w, err)
		return
	}
	if b.Target.Name == "" {
		writeError(w, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, req.name, fieldErrs("target.name", "", "Required value")))
		return
	}
	_, err = s.update(r.Context(), req.res, req.namespace, req.name, "", false, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		if b.UID != "" && b.UID != p.UID {
			return nil, apierrors.NewConflict(req.res.GR(), req.name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", b.UID, p.UID))
		}
		if p.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(req.res.GR(), req.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", p.Name))
		}
		if p.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(req.res.GR(), req.name, fmt.Errorf("pod %s is already assigned to node %q", p.Name, p.Spec.NodeName))
		}
		p.Spec.NodeName = b.Target.Name
		return p, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	// Mark the pod scheduled, as upstream's binding REST does.
	_, err = s.update(r.Context(), req.res, req.namespace, req.name, "status", false, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		setPodCondition(p, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return p, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	st := successStatus("", "", "", "")
	st.Details = nil
	st.Code = http.StatusCreated
	writeJSON(w, http.StatusCreated, st)
}

func setPodCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			if p.Status.Conditions[i].Status != c.Status {
				p.Status.Conditions[i] = c
			}
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}

func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ev := &policyv1.Eviction{}
	if err := decodeBody(w, r, body, policyv1.SchemeGroupVersion.WithKind("Eviction"), ev); err != nil {
		writeError(w, err)
		return
	}
	if ev.Name != "" && ev.Name != req.name {
		writeError(w, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, err := s.deleteObject(r.Context(), req.res, req.namespace, req.name, opts); err != nil {
		writeError(w, err)
		return
	}
	st := successStatus("", "", "", "")
	st.Details = nil
	st.Code = http.StatusCreated
	writeJSON(w, http.StatusCreated, st)
}

func fieldErrs(path string, value any, msg string) fieldList {
	return fieldList{fieldInvalid(path, value, msg)}
}

var _ = strconv.Itoa
