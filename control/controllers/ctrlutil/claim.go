package ctrlutil

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Patcher applies a patch to the named object of one kind in one namespace.
type Patcher func(ctx context.Context, name string, pt types.PatchType, data []byte) error

// Claim decides which of candidates owner controls: those already controlled
// by owner and still matching selector are kept; orphans that match are
// adopted (a patch adds the controller ownerReference); controlled ones that
// no longer match are released (a patch removes the reference). Objects being
// deleted are neither adopted nor released. ownerDeleting stops adoption.
func Claim[T metav1.Object](ctx context.Context, owner metav1.Object, ref *metav1.OwnerReference,
	sel labels.Selector, candidates []T, ownerDeleting bool, patch Patcher) ([]T, error) {
	var out []T
	var firstErr error
	for _, obj := range candidates {
		match := sel.Matches(labels.Set(obj.GetLabels()))
		cr := ControllerOf(obj)
		switch {
		case cr != nil && cr.UID == owner.GetUID():
			if match {
				out = append(out, obj)
				continue
			}
			if obj.GetDeletionTimestamp() != nil {
				continue
			}
			if err := release(ctx, obj, owner, patch); err != nil && firstErr == nil {
				firstErr = err
			}
		case cr == nil && match && !ownerDeleting && obj.GetDeletionTimestamp() == nil:
			if err := adopt(ctx, obj, ref, patch); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			out = append(out, obj)
		}
	}
	return out, firstErr
}

func adopt(ctx context.Context, obj metav1.Object, ref *metav1.OwnerReference, patch Patcher) error {
	body := map[string]any{"metadata": map[string]any{
		"ownerReferences": []any{ref},
		"uid":             obj.GetUID(),
	}}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if err := patch(ctx, obj.GetName(), types.StrategicMergePatchType, data); err != nil {
		return fmt.Errorf("adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func release(ctx context.Context, obj, owner metav1.Object, patch Patcher) error {
	var keep []metav1.OwnerReference
	for _, r := range obj.GetOwnerReferences() {
		if r.UID != owner.GetUID() {
			keep = append(keep, r)
		}
	}
	if keep == nil {
		keep = []metav1.OwnerReference{}
	}
	// JSON merge patch replaces the whole list, which works for every
	// API server and the fake clientset alike.
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": keep, "uid": obj.GetUID()}})
	if err != nil {
		return err
	}
	if err := patch(ctx, obj.GetName(), types.MergePatchType, data); err != nil {
		return fmt.Errorf("release %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
