package ctrlutil

import (
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// ControllerIndex indexes objects by their controller's UID; objects with
// no controller go under "orphan/<namespace>". Controllers then look at
// their own pods and the orphans they might adopt instead of every pod in
// the namespace.
const ControllerIndex = "skiff.controllerUID"

func controllerIndexFunc(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if ref := ControllerOf(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{"orphan/" + m.GetNamespace()}, nil
}

// AddControllerIndex adds ControllerIndex to inf unless it is there already
// (several controllers share one pod informer). Call it before the informer
// starts.
func AddControllerIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerIndex]; ok {
		return nil
	}
	if err := inf.AddIndexers(cache.Indexers{ControllerIndex: controllerIndexFunc}); err != nil {
		if _, ok := inf.GetIndexer().GetIndexers()[ControllerIndex]; ok {
			return nil // another controller won the race
		}
		return fmt.Errorf("add %s index to the pod informer: %w", ControllerIndex, err)
	}
	return nil
}

// OwnedOrOrphanPods returns the pods controlled by uid and the pods in ns
// that have no controller.
func OwnedOrOrphanPods(idx cache.Indexer, ns string, uid types.UID) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{string(uid), "orphan/" + ns} {
		objs, err := idx.ByIndex(ControllerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok && p.Namespace == ns {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// PodSource lists candidate pods for a controller: through ControllerIndex
// when it could be added, else every pod in the namespace.
type PodSource struct {
	inf     cache.SharedIndexInformer
	indexed bool
}

// NewPodSource adds ControllerIndex to the pod informer (logging and falling
// back to namespace listing if the informer already runs).
func NewPodSource(inf cache.SharedIndexInformer) *PodSource {
	err := AddControllerIndex(inf)
	if err != nil {
		slog.Warn("pod index unavailable; controllers will scan whole namespaces", "err", err)
	}
	return &PodSource{inf: inf, indexed: err == nil}
}

// Candidates returns the pods owned by uid plus the orphans in ns (or all
// pods in ns when unindexed).
func (s *PodSource) Candidates(ns string, uid types.UID) ([]*corev1.Pod, error) {
	if s.indexed {
		return OwnedOrOrphanPods(s.inf.GetIndexer(), ns, uid)
	}
	objs, err := s.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}
