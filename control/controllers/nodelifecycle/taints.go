package nodelifecycle

import (
	"context"
	"fmt"
	"k8s.io/klog/v2"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pressureTaints are the NoSchedule taints a node carries while a
// pressure condition is True (Kubernetes' TaintNodesByCondition).
var pressureTaints = map[v1.NodeConditionType]string{
	v1.NodeMemoryPressure: v1.TaintNodeMemoryPressure,
	v1.NodeDiskPressure:   v1.TaintNodeDiskPressure,
	v1.NodePIDPressure:    v1.TaintNodePIDPressure,
}

// reconcileTaints makes the node's not-ready/unreachable taints follow its
// Ready condition, and its memory/disk/pid-pressure taints its pressure
// conditions, and returns the node as stored.
func (c *Controller) reconcileTaints(ctx context.Context, n *v1.Node) (*v1.Node, error) {
	want := ""
	if ready := condition(n, v1.NodeReady); ready == nil || ready.Status == v1.ConditionUnknown {
		want = TaintUnreachable
	} else if ready.Status == v1.ConditionFalse {
		want = TaintNotReady
	}
	pressure := map[string]bool{} // pressure taint keys the node should carry
	for ct, key := range pressureTaints {
		if cond := condition(n, ct); cond != nil && cond.Status == v1.ConditionTrue {
			pressure[key] = true
		}
	}
	now := metav1.NewTime(c.clock.Now())
	var taints []v1.Taint
	have := map[v1.TaintEffect]bool{}
	hasPressure := map[string]bool{}
	for _, t := range n.Spec.Taints {
		switch {
		case t.Key == TaintUnreachable || t.Key == TaintNotReady:
			if t.Key != want {
				continue // drop the stale one
			}
			have[t.Effect] = true
		case isPressureTaint(t.Key) && t.Effect == v1.TaintEffectNoSchedule:
			if !pressure[t.Key] {
				continue // the pressure is over
			}
			hasPressure[t.Key] = true
		}
		taints = append(taints, t)
	}
	if want != "" {
		for _, eff := range []v1.TaintEffect{v1.TaintEffectNoSchedule, v1.TaintEffectNoExecute} {
			if !have[eff] {
				t := v1.Taint{Key: want, Effect: eff}
				if eff == v1.TaintEffectNoExecute {
					t.TimeAdded = &now
				}
				taints = append(taints, t)
			}
		}
	}
	for _, key := range []string{v1.TaintNodeMemoryPressure, v1.TaintNodeDiskPressure, v1.TaintNodePIDPressure} {
		if pressure[key] && !hasPressure[key] {
			taints = append(taints, v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule})
		}
	}
	if equality.Semantic.DeepEqual(taints, n.Spec.Taints) || (len(taints) == 0 && len(n.Spec.Taints) == 0) {
		return n, nil
	}
	upd := n.DeepCopy()
	upd.Spec.Taints = taints
	out, err := c.client.CoreV1().Nodes().Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) {
			return n, fmt.Errorf("node %s changed while tainting; retrying next period: %w", n.Name, err)
		}
		return n, fmt.Errorf("update taints of node %s: %w", n.Name, err)
	}
	c.log.Info("node taints updated", "node", n.Name, "condition", want, "pressure", len(pressure))
	return out, nil
}

// effectiveTolerations adds the default 300 s tolerations a pod would have
// got from admission when it has none for the readiness taints.
func (c *Controller) effectiveTolerations(p *v1.Pod) []v1.Toleration {
	tols := p.Spec.Tolerations
	secs := c.opts.DefaultTolerationSeconds
	for _, key := range []string{TaintNotReady, TaintUnreachable} {
		probe := v1.Taint{Key: key, Effect: v1.TaintEffectNoExecute}
		if !tolerated(p.Spec.Tolerations, &probe) {
			tols = append(tols[:len(tols):len(tols)], v1.Toleration{
				Key: key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
	return tols
}

func tolerated(tols []v1.Toleration, t *v1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), t, false) {
			return true
		}
	}
	return false
}

// evictionTime is when p must leave a node with the given NoExecute taints:
// zero time means now, ok=false means never.
func (c *Controller) evictionTime(node string, p *v1.Pod, taints []v1.Taint) (at time.Time, ok bool) {
	tols := c.effectiveTolerations(p)
	for i := range taints {
		t := &taints[i]
		added := c.taintAdded(node, t)
		var minSecs *int64
		matched := false
		for j := range tols {
			if !tols[j].ToleratesTaint(klog.Background(), t, false) {
				continue
			}
			matched = true
			if s := tols[j].TolerationSeconds; s != nil && (minSecs == nil || *s < *minSecs) {
				minSecs = s
			}
		}
		if !matched {
			return time.Time{}, true
		}
		if minSecs == nil {
			continue // tolerated forever
		}
		secs := max(*minSecs, 0)
		deadline := added.Add(time.Duration(secs) * time.Second)
		if !ok || deadline.Before(at) {
			at, ok = deadline, true
		}
	}
	return at, ok
}

func (c *Controller) taintAdded(node string, t *v1.Taint) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	key := node + "/" + t.Key + "/" + string(t.Effect) + "/" + t.Value
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.taintSeen[key]
	if !ok {
		at = c.clock.Now()
		c.taintSeen[key] = at
	}
	return at
}

// evictPods deletes pods whose tolerations for the node's NoExecute taints
// have run out.
func (c *Controller) evictPods(ctx context.Context, n *v1.Node) {
	var noExec []v1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == v1.TaintEffectNoExecute {
			noExec = append(noExec, t)
		}
	}
	if len(noExec) == 0 {
		return
	}
	now := c.clock.Now()
	for _, p := range c.podsOn(n.Name) {
		if p.DeletionTimestamp != nil {
			continue
		}
		at, ok := c.evictionTime(n.Name, p, noExec)
		if !ok || now.Before(at) {
			continue
		}
		c.mu.Lock()
		_, done := c.evicted[p.UID]
		if !done {
			c.evicted[p.UID] = now
		}
		c.mu.Unlock()
		if done {
			continue
		}
		uid := p.UID
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.mu.Lock()
			delete(c.evicted, p.UID)
			c.mu.Unlock()
			c.log.Warn("evicting pod failed; retrying next period", "pod", p.Namespace+"/"+p.Name, "node", n.Name, "err", err)
			continue
		}
		c.log.Info("evicted pod from tainted node", "pod", p.Namespace+"/"+p.Name, "node", n.Name)
		c.recorder.Eventf(p, v1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
	}
}

func isPressureTaint(key string) bool {
	for _, k := range pressureTaints {
		if k == key {
			return true
		}
	}
	return false
}
