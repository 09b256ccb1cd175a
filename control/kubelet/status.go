package kubelet

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusLocked computes the pod status from what the worker knows.
func (w *podWorker) statusLocked() v1.PodStatus {
	st := v1.PodStatus{
		HostIP:    w.k.cfg.NodeIP,
		StartTime: &w.startTime,
		QOSClass:  w.pod.Status.QOSClass,
	}
	if st.HostIP != "" {
		st.HostIPs = []v1.HostIP{{IP: st.HostIP}}
	}
	if w.podIP != "" {
		st.PodIP = w.podIP
		st.PodIPs = []v1.PodIP{{IP: w.podIP}}
	}
	for _, c := range w.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status())
	}
	for _, c := range w.ctrs {
		st.ContainerStatuses = append(st.ContainerStatuses, c.status())
	}
	st.Phase = w.phaseLocked()
	initialized := true
	for _, c := range w.inits {
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			initialized = false
		}
	}
	ctrsReady := len(w.ctrs) > 0
	var notReady []string
	for _, c := range w.ctrs {
		if !(c.inst != nil && c.ready && c.started) {
			ctrsReady = false
			notReady = append(notReady, c.spec.Name)
		}
	}
	// Transition times carry over from the status last written (the API's
	// copy until the first write): the informer's copy may not show that
	// write yet.
	old := map[v1.PodConditionType]v1.PodCondition{}
	prev := w.pod.Status.Conditions
	if w.lastStatus != nil {
		prev = w.lastStatus.Conditions
	}
	for _, c := range prev {
		old[c.Type] = c
	}
	cond := func(t v1.PodConditionType, ok bool, reason, msg string) v1.PodCondition {
		s := v1.ConditionFalse
		if ok {
			s, reason, msg = v1.ConditionTrue, "", ""
		}
		c := v1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
		if o, had := old[t]; had && o.Status == s {
			c.LastTransitionTime = o.LastTransitionTime
		}
		return c
	}
	var initMsg string
	if !initialized {
		initMsg = "containers with incomplete status: " + fmt.Sprint(pendingInits(w.inits))
	}
	var readyMsg string
	if len(notReady) > 0 {
		readyMsg = fmt.Sprintf("containers with unready status: %v", notReady)
	}
	terminal := st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed
	readyReason := "ContainersNotReady"
	if terminal {
		readyReason = "PodCompleted"
	}
	st.Conditions = []v1.PodCondition{
		// The pod's network namespace, address and files are set up.
		cond(v1.PodReadyToStartContainers, w.sandbox, "", ""),
		cond(v1.PodInitialized, initialized, "ContainersNotInitialized", initMsg),
		cond(v1.ContainersReady, ctrsReady && !terminal, readyReason, readyMsg),
		cond(v1.PodReady, ctrsReady && !terminal, readyReason, readyMsg),
		cond(v1.PodScheduled, true, "", ""),
	}
	if !w.sandbox && w.sandboxErr != "" {
		st.Message = "pod sandbox: " + w.sandboxErr
		st.Reason = "SandboxError"
	}
	return st
}

func pendingInits(inits []*ctrState) []string {
	var out []string
	for _, c := range inits {
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			out = append(out, c.spec.Name)
		}
	}
	return out
}

// phaseLocked: Pending until every app container has started once;
// Succeeded/Failed when all stopped for good; otherwise Running.
func (w *podWorker) phaseLocked() v1.PodPhase {
	if p := w.terminalLocked(); p != "" {
		return p
	}
	for _, c := range w.ctrs {
		if c.inst == nil && c.state.Terminated == nil {
			return v1.PodPending
		}
	}
	return v1.PodRunning
}

// status is the container's ContainerStatus.
func (c *ctrState) status() v1.ContainerStatus {
	s := v1.ContainerStatus{
		Name:                 c.spec.Name,
		Image:                c.spec.Image,
		ImageID:              c.imageID,
		RestartCount:         c.restarts,
		LastTerminationState: c.last,
		Ready:                c.inst != nil && c.ready && c.started && !c.init,
	}
	started := c.inst != nil && c.started
	s.Started = &started
	switch {
	case c.inst != nil:
		s.State = c.state
		s.ContainerID = "containerd://" + c.inst.id
	case c.waiting != nil:
		s.State = v1.ContainerState{Waiting: c.waiting.DeepCopy()}
		if c.state.Terminated != nil {
			s.LastTerminationState = c.state
			s.ContainerID = c.state.Terminated.ContainerID
		}
	case c.state.Terminated != nil:
		s.State = c.state
		s.ContainerID = c.state.Terminated.ContainerID
	default:
		s.State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	if c.init && c.state.Terminated != nil && c.state.Terminated.ExitCode == 0 && c.inst == nil {
		s.State = c.state
		s.Ready = true
	}
	return s
}
