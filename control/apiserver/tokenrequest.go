package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffnet/skiff/control/storage"
)

// Token lifetimes, as Kubernetes' TokenRequest: at least 10 minutes, at
// most 2^32 seconds, one hour when the request names none.
const (
	minTokenSeconds     = 600
	maxTokenSeconds     = math.MaxUint32 + 1
	defaultTokenSeconds = 3600
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// handleTokenRequest serves POST .../serviceaccounts/{name}/token.
func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request, req *request) {
	if s.sa == nil {
		writeError(w, apierrors.NewServiceUnavailable("this server has no service-account signing key; start it with apiserver.Start"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	tr := &authenticationv1.TokenRequest{}
	if err := decodeBody(w, r, body, tokenRequestGVK, tr); err != nil {
		writeError(w, err)
		return
	}
	out, err := s.issueToken(r.Context(), userOf(r), req.namespace, req.name, tr, time.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func tokenInvalid(name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(tokenRequestGVK.GroupKind(), name, errs)
}

// issueToken validates tr for service account ns/name, checks its bound
// object and the caller's right to it, and returns tr with status.token.
func (s *Server) issueToken(ctx context.Context, caller user, ns, name string, tr *authenticationv1.TokenRequest, now time.Time) (*authenticationv1.TokenRequest, error) {
	var errs field.ErrorList
	if tr.Name != "" && tr.Name != name {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), tr.Name, "must match the service account name if specified"))
	}
	if tr.Namespace != "" && tr.Namespace != ns {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), tr.Namespace, "must match the service account namespace if specified"))
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = ptrTo(int64(defaultTokenSeconds))
	}
	switch exp := *tr.Spec.ExpirationSeconds; {
	case exp < minTokenSeconds:
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
	case exp > maxTokenSeconds:
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
	}
	for i, a := range tr.Spec.Audiences {
		if a == "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "audiences").Index(i), a, "may not be empty"))
		}
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil && ref.Name == "" {
		errs = append(errs, field.Required(field.NewPath("spec", "boundObjectRef", "name"), ""))
	}
	if len(errs) > 0 {
		return nil, tokenInvalid(name, errs)
	}

	var sa corev1.ServiceAccount
	if err := s.getStored(ctx, "serviceaccounts", ns, name, &sa); err != nil {
		return nil, err
	}
	kc := &k8sClaims{Namespace: ns, ServiceAccount: objRef{Name: sa.Name, UID: string(sa.UID)}}
	var boundPod *corev1.Pod
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		var uid string
		switch {
		case gv.Group == "" && ref.Kind == "Pod":
			boundPod = &corev1.Pod{}
			if err := s.getStored(ctx, "pods", ns, ref.Name, boundPod); err != nil {
				return nil, err
			}
			if boundPod.Spec.ServiceAccountName != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind a token of service account %q to pod %q, which runs as service account %q", name, ref.Name, boundPod.Spec.ServiceAccountName))
			}
			uid = string(boundPod.UID)
			kc.Pod = &objRef{Name: boundPod.Name, UID: uid}
			if n := boundPod.Spec.NodeName; n != "" {
				var node corev1.Node
				if err := s.getStored(ctx, "nodes", "", n, &node); err == nil {
					kc.Node = &objRef{Name: node.Name, UID: string(node.UID)}
				}
			}
		case gv.Group == "" && ref.Kind == "Secret":
			var sec corev1.Secret
			if err := s.getStored(ctx, "secrets", ns, ref.Name, &sec); err != nil {
				return nil, err
			}
			uid = string(sec.UID)
			kc.Secret = &objRef{Name: sec.Name, UID: uid}
		case gv.Group == "" && ref.Kind == "Node":
			var node corev1.Node
			if err := s.getStored(ctx, "nodes", "", ref.Name, &node); err != nil {
				return nil, err
			}
			uid = string(node.UID)
			kc.Node = &objRef{Name: node.Name, UID: uid}
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind a token to an object of kind %q in API version %q: only v1 Pod, Secret and Node", ref.Kind, ref.APIVersion))
		}
		if ref.UID != "" && string(ref.UID) != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Resource: ref.Kind}, ref.Name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the object's UID (%s): the object may have been deleted and created again", ref.UID, uid))
		}
	}
	if err := nodeTokenAllowed(caller, name, tr.Spec.BoundObjectRef, boundPod); err != nil {
		return nil, err
	}

	auds := tr.Spec.Audiences
	if len(auds) == 0 {
		auds = []string{APIAudience}
	}
	exp := now.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)
	claims := &saClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: "system:serviceaccount:" + ns + ":" + name, Audience: auds,
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: string(uuid.NewUUID()),
		},
		Kubernetes: kc,
	}
	tok, err := s.sa.sign(claims)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("sign the token: %w", err))
	}
	out := tr.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{Kind: "TokenRequest", APIVersion: tokenRequestGVK.GroupVersion().String()}
	if out.Name == "" {
		out.Name = name
	}
	if out.Namespace == "" {
		out.Namespace = ns
	}
	out.CreationTimestamp = metav1.NewTime(now)
	out.Spec.Audiences = auds
	out.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	return out, nil
}

// nodeTokenAllowed is the TokenRequest half of Kubernetes' NodeRestriction:
// a node identity may only ask for tokens bound to a pod on its node that
// runs as the service account.
func nodeTokenAllowed(caller user, sa string, ref *authenticationv1.BoundObjectReference, pod *corev1.Pod) error {
	node := caller.nodeName()
	if caller.isMaster() || node == "" {
		return nil
	}
	gr := schema.GroupResource{Resource: "serviceaccounts/token"}
	switch {
	case ref == nil || pod == nil:
		return apierrors.NewForbidden(gr, sa, fmt.Errorf("node %q may only request tokens bound to a pod (spec.boundObjectRef kind Pod)", node))
	case pod.Spec.NodeName != node:
		return apierrors.NewForbidden(gr, sa, fmt.Errorf("node %q may only request tokens for pods bound to it; pod %q is on node %q", node, pod.Name, pod.Spec.NodeName))
	}
	return nil
}

// getStored reads one object of resource (plural) into out, mapping a
// missing object to a 404 Status.
func (s *Server) getStored(ctx context.Context, resource, ns, name string, out runtime.Object) error {
	if _, err := s.Store.Get(ctx, storage.Key(resource, ns, name), out); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
		}
		return apierrors.NewInternalError(err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
