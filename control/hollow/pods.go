package hollow

import (
	"context"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

func (c *Cluster) ours(obj any) bool {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*v1.Pod)
	if !ok {
		return false
	}
	_, mine := c.nodes[p.Spec.NodeName]
	return mine
}

// adoptExistingIPs records IPs pods already have, before any new pod gets
// one, so a restarted hollow process never hands an address out twice.
func (c *Cluster) adoptExistingIPs() {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		n := c.nodes[p.Spec.NodeName]
		if n == nil || p.Status.PodIP == "" {
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			continue
		}
		key := p.Namespace + "/" + p.Name
		if n.pool().adopt(key, ip) {
			c.mu.Lock()
			c.podIPs[key] = n
			c.mu.Unlock()
		}
	}
}

func (c *Cluster) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.syncPod(ctx, key); err != nil && ctx.Err() == nil {
		if apierrors.IsConflict(err) {
			// Our cached copy was stale; the retry reads the newer one.
			c.log.Debug("pod changed while reporting status; retrying", "pod", key)
		} else {
			c.log.Warn("pod sync failed; retrying", "pod", key, "err", err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Cluster) releaseIP(key string) {
	c.mu.Lock()
	n := c.podIPs[key]
	delete(c.podIPs, key)
	c.mu.Unlock()
	if n != nil {
		n.pool().release(key)
	}
}

func (c *Cluster) syncPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.releaseIP(key)
		return nil
	}
	if err != nil {
		return err
	}
	n := c.nodes[pod.Spec.NodeName]
	if n == nil {
		return nil
	}
	if pod.DeletionTimestamp != nil {
		// The "containers" are stopped at once: finish graceful deletion.
		uid := pod.UID
		zero := int64(0)
		err := c.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("finish deletion: %w", err)
		}
		c.releaseIP(key)
		return nil
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		c.releaseIP(key)
		return nil
	}
	ip, err := n.pool().get(key)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.podIPs[key] = n
	c.mu.Unlock()
	want := c.runningStatus(pod, n, ip)
	if equality.Semantic.DeepEqual(&pod.Status, want) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = *want
	if _, err := c.client.CoreV1().Pods(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("report pod running: %w", err)
	}
	return nil
}

// runningStatus is the status a healthy kubelet would report: Running,
// every condition True, every container started and ready. Timestamps
// already present are kept so repeated syncs change nothing.
func (c *Cluster) runningStatus(pod *v1.Pod, n *node, ip netip.Addr) *v1.PodStatus {
	now := metav1.NewTime(c.clock.Now().Truncate(1e9))
	st := pod.Status.DeepCopy()
	st.Phase = v1.PodRunning
	st.Reason, st.Message = "", ""
	st.HostIP = n.ip.String()
	st.HostIPs = []v1.HostIP{{IP: st.HostIP}}
	st.PodIP = ip.String()
	st.PodIPs = []v1.PodIP{{IP: st.PodIP}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	for _, t := range []v1.PodConditionType{v1.PodScheduled, "PodReadyToStartContainers", v1.PodInitialized, v1.ContainersReady, v1.PodReady} {
		found := false
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				found = true
				if st.Conditions[i].Status != v1.ConditionTrue {
					st.Conditions[i].Status = v1.ConditionTrue
					st.Conditions[i].Reason, st.Conditions[i].Message = "", ""
					st.Conditions[i].LastTransitionTime = now
				}
			}
		}
		if !found {
			st.Conditions = append(st.Conditions, v1.PodCondition{Type: t, Status: v1.ConditionTrue, LastTransitionTime: now})
		}
	}
	st.InitContainerStatuses = containerStatuses(pod, pod.Spec.InitContainers, st.InitContainerStatuses, now, true)
	st.ContainerStatuses = containerStatuses(pod, pod.Spec.Containers, st.ContainerStatuses, now, false)
	return st
}

func containerStatuses(pod *v1.Pod, cs []v1.Container, cur []v1.ContainerStatus, now metav1.Time, init bool) []v1.ContainerStatus {
	if len(cs) == 0 {
		return nil
	}
	out := make([]v1.ContainerStatus, len(cs))
	started := true
	for i := range cs {
		var prev *v1.ContainerStatus
		for j := range cur {
			if cur[j].Name == cs[i].Name {
				prev = &cur[j]
			}
		}
		at := now
		if prev != nil && prev.State.Running != nil {
			at = prev.State.Running.StartedAt
		} else if prev != nil && prev.State.Terminated != nil {
			at = prev.State.Terminated.StartedAt
		}
		s := v1.ContainerStatus{
			Name:        cs[i].Name,
			Image:       cs[i].Image,
			ImageID:     "hollow://" + cs[i].Image,
			ContainerID: "hollow://" + string(pod.UID) + "/" + cs[i].Name,
			Ready:       true,
			Started:     &started,
			State:       v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: at}},
		}
		if init && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != v1.ContainerRestartPolicyAlways) {
			s.Started = new(bool)
			s.State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: at, FinishedAt: at,
				ContainerID: s.ContainerID,
			}}
		}
		out[i] = s
	}
	return out
}
