package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffnet/skiff/dataplane/podnet"
)

// podWorker runs one pod from sandbox set-up to final deletion.
type podWorker struct {
	k   *Kubelet
	log *slog.Logger
	dir string

	wake chan struct{}

	// latest is the newest pod the API sent and removed tells that the pod
	// left the API behind our back. The informer's handler sets them
	// without waiting for mu, which a step holds while it starts
	// containers: waiting there would hold up every other pod's events.
	// The worker applies them to pod and gone under mu (applyLocked).
	latest  atomic.Pointer[v1.Pod]
	removed atomic.Bool

	mu         sync.Mutex
	pod        *v1.Pod
	gone       bool // removed from the API behind our back
	podIP      string
	netns      string
	sandbox    bool // network, files and volumes ready
	sandboxErr string
	volumes    map[string]string
	startTime  metav1.Time
	inits      []*ctrState
	ctrs       []*ctrState
	initFailed bool
	lastStatus *v1.PodStatus // as last written; its conditions' times are kept (status.go)
	lastWire   []byte        // lastStatus as the API stores it (JSON)

	projectedAt time.Time // projected volumes last written

	holdsSlot bool   // the running step holds a create slot (step)
	shim      string // the shim group of the pod's containers, once one starts
}

func newPodWorker(k *Kubelet, pod *v1.Pod) *podWorker {
	w := &podWorker{
		k:     k,
		log:   k.log.With("pod", pod.Namespace+"/"+pod.Name),
		dir:   k.podDir(pod.UID),
		wake:  make(chan struct{}, 1),
		pod:   pod.DeepCopy(),
		netns: k.netnsPath(pod.UID),
	}
	w.latest.Store(w.pod)
	if pod.Spec.HostNetwork {
		w.netns = k.cfg.HostNetNS // the node's own network namespace ("" = ours)
	}
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	} else {
		w.startTime = metav1.Now()
	}
	for i := range pod.Spec.InitContainers {
		w.inits = append(w.inits, &ctrState{spec: pod.Spec.InitContainers[i], init: true})
	}
	for i := range pod.Spec.Containers {
		w.ctrs = append(w.ctrs, &ctrState{spec: pod.Spec.Containers[i]})
	}
	return w
}

func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// update hands the worker the newest pod from the API without blocking.
func (w *podWorker) update(pod *v1.Pod) {
	w.latest.Store(pod.DeepCopy())
	w.poke()
}

// markGone tells the worker, without blocking, that the pod left the API.
func (w *podWorker) markGone() {
	w.removed.Store(true)
	w.poke()
}

// applyLocked takes in what update and markGone left (mu held).
func (w *podWorker) applyLocked() {
	w.pod = w.latest.Load()
	if w.removed.Load() {
		w.gone = true
	}
}

// deletionRequested reports, without waiting for mu, whether the pod left
// the API or is being deleted.
func (w *podWorker) deletionRequested() bool {
	return w.removed.Load() || w.latest.Load().DeletionTimestamp != nil
}

func (w *podWorker) currentPod() *v1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applyLocked()
	return w.pod
}

func (w *podWorker) ref() podnet.PodRef {
	return podnet.PodRef{Namespace: w.pod.Namespace, Name: w.pod.Name, UID: string(w.pod.UID)}
}

// run is the pod's control loop. It returns when the pod is finished and
// deleted, or when ctx ends (leaving containers running for adoption).
func (w *podWorker) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			w.mu.Lock()
			w.stopProbesLocked()
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.applyLocked()
		deleting := w.gone || w.pod.DeletionTimestamp != nil
		w.mu.Unlock()
		if deleting {
			w.terminate(ctx)
			return
		}
		w.step(ctx)
		w.pushStatus(ctx)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-tick.C:
		}
	}
}

// isNSMount reports whether path is a mounted namespace (nsfs): a pinned
// network or IPC namespace.
func isNSMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// setupSandbox creates the namespace, network, /etc files and volumes.
func (w *podWorker) setupSandbox(ctx context.Context) error {
	if w.pod.Spec.HostNetwork {
		// The node's network: no namespace, veth or pod address; the pod
		// IP is the node IP, as Kubernetes reports it.
		w.podIP = w.k.cfg.NodeIP
		return w.writeEtcAndVolumes(ctx)
	}
	if !isNSMount(w.netns) {
		// Missing, or a stale file whose bind mount is gone (for example
		// made in another mount namespace): start from a fresh namespace.
		if err := podnet.DeleteNetNS(w.netns); err != nil {
			return err
		}
		if err := podnet.CreateNetNS(w.netns); err != nil {
			return err
		}
	}
	ip, err := w.k.cfg.Net.Setup(ctx, w.ref(), w.netns)
	if err != nil {
		return err
	}
	w.podIP = ip.String()
	return w.writeEtcAndVolumes(ctx)
}

// writeEtcAndVolumes writes the pod's /etc/hosts, resolv.conf and hostname
// and prepares its volumes.
func (w *podWorker) writeEtcAndVolumes(ctx context.Context) error {
	if !w.pod.Spec.HostIPC {
		if err := setupIPC(w.dir); err != nil {
			return err
		}
	}
	if !w.pod.Spec.HostNetwork {
		if err := setupUTS(w.dir, podHostname(w.pod)); err != nil {
			return err
		}
	}
	etc := filepath.Join(w.dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	hostConf, _ := os.ReadFile(w.k.cfg.HostResolvConf)
	files := map[string]string{
		"hosts":       hostsFile(w.pod, w.podIP, w.k.cfg.ClusterDomain),
		"resolv.conf": resolvConf(w.pod, w.k.cfg.ClusterDNS, w.k.cfg.ClusterDomain, hostConf),
		"hostname":    podHostname(w.pod) + "\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("write pod %s: %w", name, err)
		}
	}
	vols, err := prepareVolumesWith(ctx, w.k.cfg.Client, w.k.tokens, w.volumePodLocked(), w.dir)
	if err != nil {
		return err
	}
	w.volumes = vols
	w.projectedAt = w.k.tokens.now()
	return nil
}

// step advances the pod: sandbox, then init containers in order, then the
// app containers, restarting per restartPolicy after back-off.
func (w *podWorker) step(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applyLocked()
	if !w.sandbox {
		// A new pod's first step - sandbox and first starts - runs
		// through a create slot, taken in arrival order: when many pods
		// arrive at once, the first are up before later ones take CPU
		// for their sandboxes (p50 at a 30-pod burst: about 10% less).
		release, err := w.k.takeCreateSlot(ctx)
		if err != nil {
			return
		}
		w.holdsSlot = true
		defer func() { w.holdsSlot = false; release() }()
		if err := w.setupSandbox(ctx); err != nil {
			if w.sandboxErr != err.Error() {
				w.log.Error("pod sandbox set-up failed; retrying", "err", err)
				w.mountFailedLocked(err)
			}
			w.sandboxErr = err.Error()
			return
		}
		w.sandbox, w.sandboxErr = true, ""
		w.adoptLocked(ctx)
	} else {
		w.refreshProjectedLocked(ctx)
	}
	if w.terminalLocked() != "" {
		return
	}
	policy := w.pod.Spec.RestartPolicy
	for _, c := range w.inits {
		if c.inst != nil {
			return // still running
		}
		if t := c.state.Terminated; t != nil {
			if t.ExitCode == 0 {
				continue
			}
			if policy == v1.RestartPolicyNever {
				w.initFailed = true
				return
			}
		}
		w.maybeStartLocked(ctx, c)
		return
	}
	for _, c := range w.ctrs {
		if c.inst != nil {
			continue
		}
		if t := c.state.Terminated; t != nil {
			if policy == v1.RestartPolicyNever || policy == v1.RestartPolicyOnFailure && t.ExitCode == 0 {
				continue
			}
		}
		w.maybeStartLocked(ctx, c)
	}
}

// backoffEventEvery spaces a container's BackOff events while it waits.
const backoffEventEvery = 10 * time.Second

// maybeStartLocked starts c now unless it is in back-off.
func (w *podWorker) maybeStartLocked(ctx context.Context, c *ctrState) {
	if c.state.Terminated != nil && time.Now().Before(c.nextStart) {
		c.waiting = &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				c.backoffShown.Round(time.Second), c.spec.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)}
		if time.Since(c.backoffEventAt) >= backoffEventEvery {
			c.backoffEventAt = time.Now()
			w.event(w.pod, c.fieldPath(), v1.EventTypeWarning, "BackOff",
				fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c.spec.Name, w.pod.Name, w.pod.Namespace, w.pod.UID))
		}
		return
	}
	if err := w.startLocked(ctx, c); err != nil {
		w.log.Warn("start container", "container", c.spec.Name, "err", err)
	}
}

// terminalLocked reports the pod's final phase, or "" while it runs.
func (w *podWorker) terminalLocked() v1.PodPhase {
	if w.initFailed {
		return v1.PodFailed
	}
	policy := w.pod.Spec.RestartPolicy
	if policy == "" || policy == v1.RestartPolicyAlways || len(w.ctrs) == 0 {
		return ""
	}
	failed := false
	for _, c := range w.ctrs {
		t := c.state.Terminated
		if c.inst != nil || t == nil {
			return ""
		}
		if t.ExitCode != 0 {
			if policy == v1.RestartPolicyOnFailure {
				return ""
			}
			failed = true
		}
	}
	if failed {
		return v1.PodFailed
	}
	return v1.PodSucceeded
}

// pushStatus writes the pod status if it changed.
func (w *podWorker) pushStatus(ctx context.Context) {
	w.mu.Lock()
	w.applyLocked()
	st := w.statusLocked()
	// Compared as the API stores it: timestamps in whole seconds. A deep
	// comparison saw nanoseconds and wrote the same status again, two or
	// three writes per started pod.
	wire, err := json.Marshal(&st)
	if err == nil && bytes.Equal(wire, w.lastWire) {
		w.mu.Unlock()
		return
	}
	pod := w.pod.DeepCopy()
	w.mu.Unlock()
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled {
			for i := range st.Conditions {
				if st.Conditions[i].Type == v1.PodScheduled {
					st.Conditions[i] = c
				}
			}
		}
	}
	pod.Status = *st.DeepCopy()
	_, err = w.k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		fresh, gerr := w.k.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr == nil && fresh.UID == pod.UID {
			fresh.Status = *st.DeepCopy()
			_, err = w.k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			w.log.Warn("update pod status; will retry", "err", err)
		}
		return
	}
	w.mu.Lock()
	w.lastStatus, w.lastWire = &st, wire
	w.mu.Unlock()
}

func (w *podWorker) stopProbesLocked() {
	for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if c.inst != nil && c.inst.cancelProbes != nil {
			c.inst.cancelProbes()
		}
	}
}

// terminate stops the pod gracefully, tears down its sandbox and completes
// the API deletion.
func (w *podWorker) terminate(ctx context.Context) {
	w.mu.Lock()
	w.applyLocked()
	pod := w.pod
	gone := w.gone
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	if gone {
		grace = 0
	}
	var running []*ctrState
	for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if c.inst != nil {
			running = append(running, c)
		}
	}
	w.mu.Unlock()
	w.log.Info("terminating pod", "grace", grace, "running", len(running))
	var wg sync.WaitGroup
	for _, c := range running {
		wg.Add(1)
		go func(c *ctrState) {
			defer wg.Done()
			w.stopContainer(ctx, c, time.Duration(grace)*time.Second, true)
		}(c)
	}
	wg.Wait()
	cctx := context.WithoutCancel(ctx)
	w.removeAllContainers(cctx)
	if !w.pod.Spec.HostNetwork {
		if err := w.k.cfg.Net.Teardown(cctx, w.ref(), w.netns); err != nil {
			w.log.Error("tear down pod network", "err", err)
		}
		if err := podnet.DeleteNetNS(w.netns); err != nil {
			w.log.Error("delete pod netns", "err", err)
		}
	}
	unmountPodDir(w.dir)
	if err := os.RemoveAll(w.dir); err != nil {
		w.log.Error("remove pod dir", "err", err)
	}
	if gone {
		return
	}
	zero := int64(0)
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := w.k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(cctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			w.log.Info("pod terminated and deleted")
			return
		}
		w.log.Error("complete pod deletion; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
