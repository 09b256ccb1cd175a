package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

// setRSAnnotations copies d's annotations to rs and raises rs's revision to
// newRevision (remembering the old one in revision-history). It reports
// whether rs changed.
func setRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if annotationsNotCopied[k] {
			continue
		}
		if rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	old := rs.Annotations[RevisionAnnotation]
	oldN, _ := strconv.ParseInt(old, 10, 64)
	if old == "" || oldN < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if old != "" {
			hist := rs.Annotations[RevisionHistoryAnnotation]
			if hist == "" {
				hist = old
			} else {
				hist += "," + old
			}
			rs.Annotations[RevisionHistoryAnnotation] = hist
		}
	}
	if !exists {
		changed = setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) || changed
	}
	return changed
}

func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

// setDeploymentRevision writes rev into d's revision annotation through the
// API (kubectl rollout undo needs /metadata/annotations to exist).
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RevisionAnnotation: rev}}})
	if err != nil {
		return err
	}
	out, err := c.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("set revision annotation on deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	// Keep working on our copy of spec/status, with the fresh metadata.
	d.ObjectMeta = out.ObjectMeta
	return nil
}

// getNewRS returns the RS matching d's template, updating its revision and
// annotations; when there is none and create is set it creates one.
func (c *Controller) getNewRS(ctx context.Context, d *appsv1.Deployment, rss, olds []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing := findNewRS(d, rss)
	newRevision := maxRevision(olds) + 1
	now := metav1.NewTime(c.clock.Now())
	if existing != nil {
		rs := existing.DeepCopy()
		changed := setRSAnnotations(d, rs, newRevision, true)
		if rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			out, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("update replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			rs = out
		}
		if err := c.setDeploymentRevision(ctx, d, rs.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if hasDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				"FoundNewReplicaSet", fmt.Sprintf("Found new replica set %q", rs.Name), now))
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}
	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	tpl := *d.Spec.Template.DeepCopy()
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	tpl.Labels[HashLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[HashLabel] = hash
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(d, gvk)},
			Labels:          ctrlutil.CopyMap(tpl.Labels),
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        tpl,
		},
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), rs)
	n := newRSReplicas(d, all, rs)
	rs.Spec.Replicas = &n
	setRSAnnotations(d, rs, newRevision, false)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, gerr
		}
		if ref := ctrlutil.ControllerOf(got); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&got.Spec.Template, &d.Spec.Template) {
			return got, nil // our informer was behind
		}
		// A hash collision: bump collisionCount so the next hash differs.
		cc := int32(0)
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount
		}
		cc++
		d.Status.CollisionCount = &cc
		if _, uerr := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("replicaset name %s collides with another template; collisionCount is now %d, retrying", rs.Name, cc)
	}
	if err != nil {
		c.rec.Eventf(d, corev1.EventTypeWarning, "FailedCreate", "Failed to create new replica set %q: %v", rs.Name, err)
		if hasDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				"ReplicaSetCreateError", fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err), now))
			_, _ = c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
		return nil, fmt.Errorf("create replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	if n > 0 {
		c.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if err := c.setDeploymentRevision(ctx, d, created.Annotations[RevisionAnnotation]); err != nil {
		return nil, err
	}
	if hasDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			"NewReplicaSetCreated", fmt.Sprintf("Created new replica set %q", created.Name), now))
	}
	return created, nil
}

// scaleRS sets rs's replicas (and replica annotations); it reports whether
// the size changed and returns the updated RS.
func (c *Controller) scaleRS(ctx context.Context, rs *appsv1.ReplicaSet, n int32, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	sizeChange := rsReplicas(rs) != n
	cp := rs.DeepCopy()
	annChange := setReplicasAnnotations(cp, replicas(d), replicas(d)+maxSurge(d))
	if !sizeChange && !annChange {
		return false, rs, nil
	}
	from := rsReplicas(rs)
	cp.Spec.Replicas = &n
	out, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replicaset %s/%s to %d: %w", rs.Namespace, rs.Name, n, err)
	}
	if sizeChange {
		verb := "up"
		if n < from {
			verb = "down"
		}
		c.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", verb, rs.Name, from, n)
	}
	*rs = *out
	return sizeChange, rs, nil
}

// cleanup deletes the oldest fully scaled-down old RSs beyond
// spec.revisionHistoryLimit (default 10).
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, olds []*appsv1.ReplicaSet) error {
	limit := int32(10)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var cands []*appsv1.ReplicaSet
	for _, rs := range olds {
		if rs.DeletionTimestamp == nil {
			cands = append(cands, rs)
		}
	}
	diff := len(cands) - int(limit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := revision(cands[i]), revision(cands[j])
		if ri != rj {
			return ri < rj
		}
		return cands[i].CreationTimestamp.Before(&cands[j].CreationTimestamp)
	})
	var errs []string
	for _, rs := range cands {
		if diff == 0 {
			break
		}
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err.Error())
			continue
		}
		diff--
	}
	if len(errs) > 0 {
		return fmt.Errorf("clean up old replicasets of %s/%s: %s", d.Namespace, d.Name, strings.Join(errs, "; "))
	}
	return nil
}
