package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS := findNewRS(d, rss)
	olds := oldRSs(rss, newRS)
	newRS, err := c.getNewRS(ctx, d, rss, olds, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	up, err := c.reconcileNewRS(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if up {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	down, err := c.reconcileOldRSs(ctx, d, all, olds, newRS)
	if err != nil {
		return err
	}
	if down {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if st := c.calculateStatus(d, all, newRS); deploymentComplete(d, &st) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func (c *Controller) reconcileNewRS(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	want := replicas(d)
	switch cur := rsReplicas(newRS); {
	case cur == want:
		return false, nil
	case cur > want:
		changed, _, err := c.scaleRS(ctx, newRS, want, d)
		return changed, err
	}
	changed, _, err := c.scaleRS(ctx, newRS, newRSReplicas(d, all, newRS), d)
	return changed, err
}

func (c *Controller) reconcileOldRSs(ctx context.Context, d *appsv1.Deployment, all, olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if sumReplicas(olds) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - availableOf(newRS)
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), olds...)
	sortOldestFirst(sorted)
	// First drop old pods that are not available anyway.
	var cleaned int32
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		unhealthy := rsReplicas(rs) - availableOf(rs)
		if unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		if _, _, err := c.scaleRS(ctx, rs, rsReplicas(rs)-n, d); err != nil {
			return false, err
		}
		cleaned += n
	}
	// Then scale down available old pods while availability stays above the floor.
	var available int32
	for _, rs := range all {
		available += availableOf(rs)
	}
	var scaled int32
	if available > minAvailable {
		total := available - minAvailable
		for _, rs := range sorted {
			if scaled >= total {
				break
			}
			if rsReplicas(rs) == 0 {
				continue
			}
			n := min(rsReplicas(rs), total-scaled)
			if _, _, err := c.scaleRS(ctx, rs, rsReplicas(rs)-n, d); err != nil {
				return false, err
			}
			scaled += n
		}
	}
	return cleaned+scaled > 0, nil
}

func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, err := c.getNewRS(ctx, d, rss, oldRSs(rss, findNewRS(d, rss)), false)
	if err != nil {
		return err
	}
	olds := oldRSs(rss, newRS)
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	scaledDown := false
	for _, rs := range activeRSs(olds) {
		changed, _, err := c.scaleRS(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || changed
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if running, err := c.oldPodsRunning(d, olds); err != nil || running {
		if err != nil {
			return err
		}
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		newRS, err = c.getNewRS(ctx, d, rss, olds, true)
		if err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	}
	if _, _, err := c.scaleRS(ctx, newRS, replicas(d), d); err != nil {
		return err
	}
	if st := c.calculateStatus(d, all, newRS); deploymentComplete(d, &st) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of an old RS still exists and has
// not terminated (Recreate waits for them before starting new ones).
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, olds []*appsv1.ReplicaSet) (bool, error) {
	if sumStatus(olds, func(s appsv1.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true, nil
	}
	pods, err := c.podLister.Pods(d.Namespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	uids := map[string]bool{}
	for _, rs := range olds {
		uids[string(rs.UID)] = true
	}
	for _, p := range pods {
		ref := ctrlutil.ControllerOf(p)
		if ref == nil || !uids[string(ref.UID)] {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles paused deployments and spec.replicas changes: it resizes
// the RSs (proportionally during a rollout) without rolling anything out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, err := c.getNewRS(ctx, d, rss, oldRSs(rss, findNewRS(d, rss)), false)
	if err != nil {
		return err
	}
	olds := oldRSs(rss, newRS)
	if err := c.scale(ctx, d, newRS, olds); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	return c.syncStatusOnly(ctx, d, all)
}

func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) error {
	var everyone []*appsv1.ReplicaSet
	if newRS != nil {
		everyone = append(everyone, newRS)
	}
	everyone = append(everyone, olds...)
	active := activeRSs(everyone)
	// One RS carries all pods (or none do): just size it.
	var target *appsv1.ReplicaSet
	switch {
	case len(active) == 1:
		target = active[0]
	case len(active) == 0 && newRS != nil:
		target = newRS
	case len(active) == 0 && len(olds) > 0:
		latest := append([]*appsv1.ReplicaSet(nil), olds...)
		sort.SliceStable(latest, func(i, j int) bool { return revision(latest[i]) > revision(latest[j]) })
		target = latest[0]
	}
	if target != nil {
		_, _, err := c.scaleRS(ctx, target, replicas(d), d)
		return err
	}
	// The new RS is saturated: old ones go to zero.
	if newRS != nil && rsReplicas(newRS) == replicas(d) && newRS.Status.AvailableReplicas == replicas(d) {
		for _, rs := range activeRSs(olds) {
			if _, _, err := c.scaleRS(ctx, rs, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	allowed := replicas(d)
	if allowed > 0 {
		allowed += maxSurge(d)
	}
	toAdd := allowed - sumReplicas(active)
	if toAdd == 0 {
		return nil
	}
	// Bigger RSs first; on growth newer first, on shrink older first.
	sort.SliceStable(active, func(i, j int) bool {
		if rsReplicas(active[i]) != rsReplicas(active[j]) {
			return rsReplicas(active[i]) > rsReplicas(active[j])
		}
		ci, cj := active[i].CreationTimestamp, active[j].CreationTimestamp
		if toAdd > 0 {
			return cj.Before(&ci)
		}
		return ci.Before(&cj)
	})
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		sizes[i] = rsReplicas(rs)
		if toAdd == 0 {
			continue
		}
		p := rsFraction(rs, d)
		if toAdd > 0 {
			p = min(p, toAdd-added)
		} else {
			p = max(p, toAdd-added)
		}
		sizes[i] += p
		added += p
	}
	if left := toAdd - added; left != 0 && len(active) > 0 {
		sizes[0] = max(0, sizes[0]+left)
	}
	for i, rs := range active {
		if _, _, err := c.scaleRS(ctx, rs, max(0, sizes[i]), d); err != nil {
			return err
		}
	}
	return nil
}
