package replicaset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

// CalculateStatus returns rs's status for the pods it controls at time now,
// and how long until a ready pod becomes available (0 if none is waiting).
func CalculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) (appsv1.ReplicaSetStatus, time.Duration) {
	st := appsv1.ReplicaSetStatus{
		ObservedGeneration: rs.Generation,
		Conditions:         append([]appsv1.ReplicaSetCondition(nil), rs.Status.Conditions...),
	}
	tplLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var wait time.Duration
	for _, p := range pods {
		st.Replicas++
		if tplLabels.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if ctrlutil.IsPodReady(p) {
			st.ReadyReplicas++
			ok, d := ctrlutil.IsPodAvailable(p, rs.Spec.MinReadySeconds, now)
			if ok {
				st.AvailableReplicas++
			} else if d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
	}
	st.Conditions = setFailure(st.Conditions, manageErr, rs)
	return st, wait
}

func setFailure(conds []appsv1.ReplicaSetCondition, manageErr error, rs *appsv1.ReplicaSet) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range conds {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			out = append(out, c)
		}
	}
	if manageErr == nil {
		return out
	}
	reason := "FailedCreate"
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	if rs.Status.Replicas > want {
		reason = "FailedDelete"
	}
	return append(out, appsv1.ReplicaSetCondition{
		Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: reason, Message: manageErr.Error(), LastTransitionTime: metav1.Now(),
	})
}

func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) error {
	st, wait := CalculateStatus(rs, pods, manageErr, c.clock.Now())
	if wait > 0 {
		c.queue.AddAfter(rs.Namespace+"/"+rs.Name, wait)
	}
	if statusEqual(rs.Status, st) {
		return nil
	}
	cp := rs.DeepCopy()
	cp.Status = st
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}

func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	strip := func(s appsv1.ReplicaSetStatus) appsv1.ReplicaSetStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}
