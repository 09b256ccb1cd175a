package replicaset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

// PodsToDelete picks the n pods that are cheapest to lose: unscheduled before
// scheduled, Pending before Unknown before Running, not ready before ready,
// ready for less time first, more restarts first, newest first.
func PodsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	s := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(s, func(i, j int) bool { return lessValuable(s[i], s[j]) })
	if n > len(s) {
		n = len(s)
	}
	return s[:n]
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func lessValuable(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if phaseRank[a.Status.Phase] != phaseRank[b.Status.Phase] {
		return phaseRank[a.Status.Phase] < phaseRank[b.Status.Phase]
	}
	ra, rb := ctrlutil.IsPodReady(a), ctrlutil.IsPodReady(b)
	if ra != rb {
		return !ra
	}
	if ra && rb {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
	}
	if ca, cb := restarts(a), restarts(b); ca != cb {
		return ca > cb
	}
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		return tb.Before(&ta)
	}
	return a.Name > b.Name
}

func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func restarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range p.Status.ContainerStatuses {
		m = max(m, s.RestartCount)
	}
	return m
}
