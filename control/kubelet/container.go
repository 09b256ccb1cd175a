package kubelet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"github.com/distribution/reference"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ctrState is what the kubelet knows about one container of a pod across
// its restarts. Guarded by the pod worker's mutex.
type ctrState struct {
	spec     v1.Container
	init     bool
	restarts int32
	inst     *instance // the running instance, nil when none

	waiting *v1.ContainerStateWaiting // why it is not running yet
	state   v1.ContainerState         // running or terminated
	last    v1.ContainerState         // previous termination

	image, imageID string
	pull           pullState // image pull and its back-off (image.go)
	bo             backoff
	backoffShown   time.Duration
	nextStart      time.Time
	backoffEventAt time.Time // the last BackOff event (at most one per backoffEventEvery)

	ready   bool // readiness verdict of the current instance
	started bool // startup probe passed (or none)
}

// instance is one run of a container.
type instance struct {
	id           string
	ctr          ctrd.Container
	task         ctrd.Task
	started      time.Time
	done         chan struct{} // closed once the exit is recorded
	cancelProbes context.CancelFunc
	killReason   atomic.Value // string: why the kubelet killed it
	stdinClosed  atomic.Bool  // stdinOnce: an attach session closed its stdin
}

// normalizeImage expands a short image name ("nginx") to its full form
// ("docker.io/library/nginx:latest").
func normalizeImage(name string) (string, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w", name, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

func containerID(uid, name string, restart int32) string {
	sum := sha256.Sum256([]byte(uid + "/" + name))
	return "skiff-" + hex.EncodeToString(sum[:])[:20] + "-" + strconv.Itoa(int(restart))
}

func (w *podWorker) logPath(name string, restart int32) string {
	return filepath.Join(w.dir, "logs", name, strconv.Itoa(int(restart))+".log")
}

// startLocked creates and starts a new instance of c. It returns nil without
// starting anything while the image is being pulled or in pull back-off.
func (w *podWorker) startLocked(ctx context.Context, c *ctrState) error {
	cl := w.k.cfg.Containerd
	image, err := w.ensureImageLocked(ctx, c)
	if errors.Is(err, errImageNotReady) {
		return nil // pulling or in pull back-off; c.waiting says which (image.go)
	}
	if err != nil {
		return err
	}
	image = w.k.images.wrap(image)
	ref := c.image
	c.imageID = ref + "@" + image.Target().Digest.String()
	if ok, _ := image.IsUnpacked(ctx, w.k.cfg.Snapshotter); !ok {
		if err := image.Unpack(ctx, w.k.cfg.Snapshotter); err != nil {
			c.waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerError", Message: "unpack image: " + err.Error()}
			return err
		}
	}
	env, err := resolveEnv(ctx, envSource{client: w.k.cfg.Client, nodeName: w.k.cfg.NodeName, podIP: w.podIP, hostIP: w.k.cfg.NodeIP, services: w.k.cfg.Services}, w.pod, &c.spec)
	if err != nil {
		c.waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	mounts, err := containerMounts(&c.spec, w.volumes, w.dir)
	if err != nil {
		c.waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	restart := c.restarts
	if c.state.Terminated != nil {
		restart++
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(image)}
	if w.pod.Spec.HostNetwork {
		// The node's network and hostname (its UTS namespace: runc sets no
		// hostname there), as Kubernetes gives them.
		opts = append(opts, oci.WithHostNamespace(specs.UTSNamespace))
		if w.netns == "" {
			opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
		} else { // a node played by a namespace (tests, several agents on one machine)
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: w.netns}))
		}
	} else {
		// The pod's own network and UTS namespaces; the hostname is set in
		// the pinned UTS namespace (ipc.go), shared by all its containers.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: w.netns}),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: utsNSPath(w.dir)}))
	}
	if w.pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	} else {
		// One IPC namespace and /dev/shm for all of the pod's containers.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: ipcNSPath(w.dir)}))
		mounts = append(mounts, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: shmPath(w.dir), Options: []string{"rbind", "rw", "nosuid", "nodev", "noexec"}})
	}
	opts = append(opts, oci.WithEnv(env), oci.WithMounts(mounts))
	switch {
	case len(c.spec.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, c.spec.Command...), c.spec.Args...)...))
	case len(c.spec.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(image, c.spec.Args))
	}
	if c.spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(c.spec.WorkingDir))
	}
	if c.spec.TTY {
		opts = append(opts, withTTY) // after WithEnv: TERM joins the env
	}
	opts = append(opts, resourceOpts(&c.spec)...)
	if w.shim == "" {
		w.shim = w.k.shimGroup(w.pod.UID)
	}
	opts = append(opts, oci.WithAnnotations(map[string]string{shimGroupAnnotation: w.shim}))
	if sc := c.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			opts = append(opts, oci.WithUserID(uint32(*sc.RunAsUser)))
		}
		if sc.Privileged != nil && *sc.Privileged {
			opts = append(opts, oci.WithPrivileged)
		}
	}
	id := containerID(string(w.pod.UID), c.spec.Name, restart)
	if old, err := cl.LoadContainer(ctx, id); err == nil {
		_ = removeContainer(ctx, old)
	}
	logFile := w.logPath(c.spec.Name, restart)
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	// Create and start through a few slots at a time (createSlots), so
	// that when many pods arrive at once the first ones are served first
	// instead of all of them contending in containerd together. A pod's
	// first step already holds one (step).
	if !w.holdsSlot {
		release, err := w.k.takeCreateSlot(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	ctr, err := cl.NewContainer(ctx, id,
		ctrd.WithImage(image),
		ctrd.WithSnapshotter(w.k.cfg.Snapshotter),
		withRootfsSnapshot(id, image),
		w.k.cfg.RuntimeOpts,
		ctrd.WithNewSpec(opts...),
		ctrd.WithContainerLabels(map[string]string{
			labelPodUID: string(w.pod.UID), labelPodName: w.pod.Name, labelPodNamespace: w.pod.Namespace,
			labelContainer: c.spec.Name, labelRestart: strconv.Itoa(int(restart)),
		}),
	)
	if err != nil {
		if errdefs.IsNotFound(err) {
			w.k.images.forgetUnpacked(image) // its snapshot went away: unpack again next time
		}
		c.waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	task, err := ctr.NewTask(ctx, w.taskIO(&c.spec, restart, logFile))
	if err != nil {
		_ = ctr.Delete(ctx, ctrd.WithSnapshotCleanup)
		c.waiting = &v1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	w.event(w.pod, c.fieldPath(), v1.EventTypeNormal, "Created", "Created container: "+c.spec.Name)
	// The wait ends with the kubelet (ctx): a stopped kubelet leaves the
	// container running and records nothing; the next one adopts it.
	exitCh, err := task.Wait(ctx)
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		_, _ = task.Delete(ctx, ctrd.WithProcessKill)
		_ = ctr.Delete(ctx, ctrd.WithSnapshotCleanup)
		c.waiting = &v1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	w.event(w.pod, c.fieldPath(), v1.EventTypeNormal, "Started", "Started container "+c.spec.Name)
	if c.state.Terminated != nil {
		c.last = c.state
		c.restarts = restart
	}
	inst := &instance{id: id, ctr: ctr, task: task, started: time.Now(), done: make(chan struct{})}
	w.runningLocked(c, inst, exitCh)
	w.log.Info("container started", "container", c.spec.Name, "id", id, "restart", restart)
	return nil
}

// runningLocked records inst as c's running instance and starts its probes
// and exit watcher.
func (w *podWorker) runningLocked(c *ctrState, inst *instance, exitCh <-chan ctrd.ExitStatus) {
	c.inst = inst
	c.waiting = nil
	c.state = v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(inst.started)}}
	c.ready = false
	c.started = c.spec.StartupProbe == nil
	pctx, cancel := context.WithCancel(context.Background())
	inst.cancelProbes = cancel
	if !c.init {
		w.startProbes(pctx, c, inst)
	}
	go w.watchExit(c, inst, exitCh)
}

// watchExit records the end of inst and cleans up its task and container
// (the log file stays for `logs --previous`).
func (w *podWorker) watchExit(c *ctrState, inst *instance, exitCh <-chan ctrd.ExitStatus) {
	st := <-exitCh
	code, at, err := st.Result()
	for err != nil {
		if w.k.ctx != nil && w.k.ctx.Err() != nil {
			inst.cancelProbes() // kubelet stopping: leave it for adoption
			return
		}
		// The wait broke without an exit status: containerd went away
		// (killed, restarted), while the container runs on under its shim.
		// Watch it again once containerd is back; a task that is gone
		// counts as exited.
		var done bool
		if exitCh, code, at, done = w.rewatch(inst); !done {
			st = <-exitCh
			code, at, err = st.Result()
		} else {
			err = nil
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	inst.cancelProbes()
	w.mu.Lock()
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	if code == 137 && inst.killReason.Load() == nil {
		reason = "OOMKilled"
		if !w.oomKilled(inst) {
			reason = "Error"
		}
	}
	var msg string
	if r, ok := inst.killReason.Load().(string); ok {
		msg = r
	}
	c.state = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, Message: msg,
		StartedAt: metav1.NewTime(inst.started), FinishedAt: metav1.NewTime(at),
		ContainerID: "containerd://" + inst.id,
	}}
	if c.inst == inst {
		c.inst = nil
	}
	c.ready = false
	c.backoffShown = c.bo.next(at.Sub(inst.started))
	c.nextStart = time.Now().Add(c.backoffShown)
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := inst.task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		w.log.Warn("delete exited task", "id", inst.id, "err", err)
	}
	if err := inst.ctr.Delete(ctx, ctrd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		w.log.Warn("delete exited container", "id", inst.id, "err", err)
	}
	w.log.Info("container exited", "container", c.spec.Name, "code", code, "next-start-in", c.backoffShown)
	close(inst.done)
	w.poke()
}

// oomKilled is best effort: containerd reports OOM as an event, not in the
// exit status, so an exit by SIGKILL we did not send counts as OOM only if
// the container had a memory limit.
func (w *podWorker) oomKilled(inst *instance) bool {
	for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if c.inst == inst {
			_, ok := c.spec.Resources.Limits[v1.ResourceMemory]
			return ok
		}
	}
	return false
}

// adoptLocked picks up containers of this pod left running by a previous
// agent: the newest instance of each container is adopted if its task
// runs; every other instance is removed.
func (w *podWorker) adoptLocked(ctx context.Context) {
	ctrs, err := w.k.cfg.Containerd.Containers(ctx, fmt.Sprintf("labels.%q==%s", labelPodUID, w.pod.UID))
	if err != nil || len(ctrs) == 0 {
		return
	}
	byName := map[string]*ctrState{}
	for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		byName[c.spec.Name] = c
	}
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		c := byName[labels[labelContainer]]
		n, _ := strconv.Atoi(labels[labelRestart])
		var task ctrd.Task
		running := false
		if c != nil && c.inst == nil {
			if t, err := ctr.Task(ctx, nil); err == nil {
				if st, err := t.Status(ctx); err == nil && st.Status == ctrd.Running {
					task, running = t, true
				}
			}
		}
		if !running {
			_ = removeContainer(ctx, ctr)
			continue
		}
		exitCh, err := task.Wait(ctx)
		if err != nil {
			_ = removeContainer(ctx, ctr)
			continue
		}
		info, _ := ctr.Info(ctx)
		c.restarts = int32(n)
		if img, err := ctr.Image(ctx); err == nil {
			c.image = img.Name()
			c.imageID = img.Name() + "@" + img.Target().Digest.String()
		}
		inst := &instance{id: ctr.ID(), ctr: ctr, task: task, started: info.CreatedAt, done: make(chan struct{})}
		if inst.started.IsZero() {
			inst.started = time.Now()
		}
		w.runningLocked(c, inst, exitCh)
		// A container the API already shows Ready stays Ready until its
		// readiness probe says otherwise, so an agent restart does not take
		// healthy pods out of their Services.
		for _, s := range w.pod.Status.ContainerStatuses {
			if s.Name == c.spec.Name && s.Ready && s.ContainerID == "containerd://"+ctr.ID() {
				c.ready = true
			}
		}
		w.log.Info("adopted running container", "container", c.spec.Name, "id", ctr.ID(), "ready", c.ready)
	}
	// Init containers before a running app container are done.
	anyApp := false
	for _, c := range w.ctrs {
		anyApp = anyApp || c.inst != nil
	}
	if anyApp {
		for _, c := range w.inits {
			if c.inst == nil && c.state.Terminated == nil {
				c.state = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
			}
		}
	}
}

// stopContainer stops a running instance: the preStop hook (when
// withHook), SIGTERM, up to grace, then SIGKILL. It returns once the exit
// is recorded.
func (w *podWorker) stopContainer(ctx context.Context, c *ctrState, grace time.Duration, withHook bool) {
	w.mu.Lock()
	inst := c.inst
	spec := c.spec
	podIP := w.podIP
	pod, field := w.pod, c.fieldPath()
	w.mu.Unlock()
	if inst == nil {
		return
	}
	msg := "Stopping container " + spec.Name
	if why, ok := inst.killReason.Load().(string); ok {
		msg = why
	}
	w.event(pod, field, v1.EventTypeNormal, "Killing", msg)
	deadline := time.Now().Add(grace)
	if withHook && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithDeadline(ctx, deadline)
		if err := w.runHandler(hctx, inst, &spec, podIP, spec.Lifecycle.PreStop); err != nil {
			w.log.Warn("preStop hook failed", "container", spec.Name, "err", err)
		}
		cancel()
	}
	sig := syscall.SIGTERM
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	if err := inst.task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		w.log.Warn("signal container", "container", spec.Name, "signal", sig, "err", err)
	}
	select {
	case <-inst.done:
		return
	case <-time.After(time.Until(deadline)):
	}
	if err := inst.task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL, ctrd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		w.log.Warn("SIGKILL container", "container", spec.Name, "err", err)
	}
	select {
	case <-inst.done:
	case <-time.After(30 * time.Second):
		w.log.Error("container did not exit after SIGKILL", "container", spec.Name)
	}
}

// removeAllContainers deletes every containerd container of the pod.
func (w *podWorker) removeAllContainers(ctx context.Context) {
	ctrs, err := w.k.cfg.Containerd.Containers(ctx, fmt.Sprintf("labels.%q==%s", labelPodUID, w.pod.UID))
	if err != nil {
		w.log.Error("list pod containers", "err", err)
		return
	}
	for _, c := range ctrs {
		if err := removeContainer(ctx, c); err != nil && !errdefs.IsNotFound(err) {
			w.log.Error("remove container", "err", err)
		}
	}
}

// execIn runs cmd inside inst and returns its exit code and output.
func execIn(ctx context.Context, inst *instance, cmd []string) (int, string, error) {
	spec, err := inst.ctr.Spec(ctx)
	if err != nil {
		return -1, "", err
	}
	p := *spec.Process
	p.Args = cmd
	p.Terminal = false
	var out limitedBuffer
	execID := fmt.Sprintf("exec-%d", time.Now().UnixNano())
	proc, err := inst.task.Exec(ctx, execID, &p, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		return -1, "", err
	}
	defer proc.Delete(context.Background(), ctrd.WithProcessKill)
	exitCh, err := proc.Wait(context.Background())
	if err != nil {
		return -1, "", err
	}
	if err := proc.Start(ctx); err != nil {
		return -1, "", err
	}
	select {
	case st := <-exitCh:
		code, _, err := st.Result()
		if io := proc.IO(); io != nil {
			io.Wait()
		}
		return int(code), out.String(), err
	case <-ctx.Done():
		_ = proc.Kill(context.Background(), syscall.SIGKILL)
		return -1, out.String(), fmt.Errorf("command %q timed out", cmd)
	}
}

// limitedBuffer keeps the first 10 KiB written to it.
type limitedBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *limitedBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	if room := 10240 - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

// runHandler runs a lifecycle handler (exec or httpGet).
func (w *podWorker) runHandler(ctx context.Context, inst *instance, c *v1.Container, podIP string, h *v1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		code, out, err := execIn(ctx, inst, h.Exec.Command)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exit code %d: %s", code, out)
		}
		return nil
	case h.HTTPGet != nil:
		check, err := httpCheck(h.HTTPGet, podIP, c, w.k.dial)
		if err != nil {
			return err
		}
		return check(ctx)
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	return errors.New("lifecycle handler names no action")
}
