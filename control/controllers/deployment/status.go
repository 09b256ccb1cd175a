package deployment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Progressing condition reasons (what kubectl rollout status reads).
const (
	ReasonNewRSAvailable = "NewReplicaSetAvailable"
	ReasonRSUpdated      = "ReplicaSetUpdated"
	ReasonTimedOut       = "ProgressDeadlineExceeded"
	ReasonPaused         = "DeploymentPaused"
	ReasonResumed        = "DeploymentResumed"
	ReasonMinAvailable   = "MinimumReplicasAvailable"
	ReasonMinUnavailable = "MinimumReplicasUnavailable"
)

func hasDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds == nil || *d.Spec.ProgressDeadlineSeconds != 1<<31-1
}

func deadline(d *appsv1.Deployment) time.Duration {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return 600 * time.Second
	}
	return time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
}

func newCondition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now metav1.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
}

func getCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition replaces the condition of c's type unless one with the same
// status and reason is there; an unchanged status keeps its transition time.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(*st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// checkPaused records pause and resume in the Progressing condition.
func (c *Controller) checkPaused(d *appsv1.Deployment) {
	if !hasDeadline(d) {
		return
	}
	now := metav1.NewTime(c.clock.Now())
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cur != nil && cur.Reason == ReasonTimedOut {
		return
	}
	paused := cur != nil && cur.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", now))
	case !d.Spec.Paused && paused:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", now))
	}
}

// calculateStatus derives d's status from its RSs; conditions other than
// Available are carried over.
func (c *Controller) calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	var live []*appsv1.ReplicaSet
	for _, rs := range all {
		if rs != nil {
			live = append(live, rs)
		}
	}
	available := sumStatus(live, func(s appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas })
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(live, func(s appsv1.ReplicaSetStatus) int32 { return s.Replicas }),
		ReadyReplicas:       sumStatus(live, func(s appsv1.ReplicaSetStatus) int32 { return s.ReadyReplicas }),
		AvailableReplicas:   available,
		UnavailableReplicas: max(0, sumReplicas(live)-available),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	now := metav1.NewTime(c.clock.Now())
	if available >= replicas(d)-maxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinUnavailable, "Deployment does not have minimum availability.", now))
	}
	// Surface pod creation failures of the RSs.
	var failure *appsv1.ReplicaSetCondition
	for _, rs := range live {
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure && rs.Status.Conditions[i].Status == corev1.ConditionTrue {
				failure = &rs.Status.Conditions[i]
			}
		}
	}
	if failure != nil {
		setCondition(&st, newCondition(appsv1.DeploymentReplicaFailure, corev1.ConditionTrue, failure.Reason, failure.Message, now))
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	return st
}

func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet) error {
	newRS := findNewRS(d, nonNil(all))
	return c.writeStatus(ctx, d, c.calculateStatus(d, all, newRS))
}

func nonNil(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil {
			out = append(out, rs)
		}
	}
	return out
}

// syncRolloutStatus writes status with the Progressing condition brought up
// to date, and schedules a re-check when the progress deadline would pass.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := c.calculateStatus(d, all, newRS)
	if !hasDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	now := metav1.NewTime(c.clock.Now())
	cur := getCondition(st, appsv1.DeploymentProgressing)
	complete := deploymentComplete(d, &st)
	// A finished rollout seen again is a resync: nothing to estimate.
	settled := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewRSAvailable
	if hasDeadline(d) && !d.Spec.Paused && !settled && newRS != nil {
		switch {
		case complete:
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable,
				fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name), now))
		case deploymentProgressing(d, &st):
			cond := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated,
				fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name), now)
			if cur != nil && cur.Status == corev1.ConditionTrue {
				cond.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			st.Conditions = append(st.Conditions, cond)
		case cur != nil && cur.Reason != ReasonNewRSAvailable && !cur.LastUpdateTime.Add(deadline(d)).After(now.Time):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonTimedOut,
				fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name), now))
		}
	}
	if err := c.writeStatus(ctx, d, st); err != nil {
		return err
	}
	// Come back when the deadline passes if the rollout is still going.
	if cond := getCondition(st, appsv1.DeploymentProgressing); hasDeadline(d) && !d.Spec.Paused && !complete &&
		cond != nil && cond.Reason != ReasonTimedOut && cond.Reason != ReasonNewRSAvailable {
		after := cond.LastUpdateTime.Add(deadline(d)).Sub(now.Time)
		if after < time.Second {
			after = time.Second
		}
		c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
	}
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) error {
	// Compare with what the API last showed us: d.Status may carry
	// in-memory condition changes from this sync.
	if cached, err := c.dLister.Deployments(d.Namespace).Get(d.Name); err == nil && apiequality.Semantic.DeepEqual(cached.Status, st) {
		return nil
	}
	cp := d.DeepCopy()
	cp.Status = st
	_, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return ignoreNotFound(fmt.Errorf("update status of deployment %s/%s: %w", d.Namespace, d.Name, err))
	}
	return nil
}
