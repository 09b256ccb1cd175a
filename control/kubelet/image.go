package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/distribution/reference"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	skctrd "github.com/skiffnet/skiff/node/containerd"
)

// Image pull back-off, as in Kubernetes: 10 s doubling up to 5 min.
const (
	pullBackoffInitial = 10 * time.Second
	pullBackoffMax     = 5 * time.Minute
	// errImagePullShown is how long a failed pull shows as ErrImagePull
	// before the container waits with ImagePullBackOff.
	errImagePullShown = 2 * time.Second
)

// errImageNotReady means the container cannot start yet because its image
// is being pulled or the pull is in back-off; c.waiting says which.
var errImageNotReady = errors.New("image not ready")

// SetImagePuller sets the puller the kubelet pulls images with (registry
// settings such as --insecure-registry and --registry-config live in it).
// Call it before Run. Without it the kubelet pulls with default settings:
// HTTPS, except plain HTTP for loopback registries.
func (k *Kubelet) SetImagePuller(p *skctrd.Puller) {
	k.pullerMu.Lock()
	k.puller = p
	k.pullerMu.Unlock()
}

func (k *Kubelet) imagePuller() (*skctrd.Puller, error) {
	k.pullerMu.Lock()
	defer k.pullerMu.Unlock()
	if k.puller != nil {
		return k.puller, nil
	}
	p, err := skctrd.NewPuller(k.cfg.Containerd, skctrd.PullerOptions{Snapshotter: k.cfg.Snapshotter, Logger: k.cfg.Logger})
	if err != nil {
		return nil, err
	}
	k.puller = p
	return p, nil
}

// pullState is the image pull of one container. Guarded by the pod
// worker's mutex.
type pullState struct {
	ref      string
	running  bool
	finished bool // a pull ended and no start attempt has looked at it yet
	img      ctrd.Image
	err      error

	delay    time.Duration // current back-off
	retryAt  time.Time     // no pull before this
	failedAt time.Time     // when the last pull failed
	lastErr  string
	backoff  bool // the BackOff event for this back-off period was sent

	lastEvent   string // reason and message of the last event, to drop repeats
	lastEventAt time.Time
}

// nextPullDelay is the back-off after another failed pull.
func nextPullDelay(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return pullBackoffInitial
	case 2*d > pullBackoffMax:
		return pullBackoffMax
	}
	return 2 * d
}

// pullPolicy is the container's imagePullPolicy, defaulted as the API
// server does when empty: Always for ":latest" or no tag, else IfNotPresent.
func pullPolicy(c *v1.Container) v1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	named, err := reference.ParseNormalizedNamed(c.Image)
	if err != nil {
		return v1.PullIfNotPresent
	}
	if _, ok := named.(reference.Digested); ok {
		return v1.PullIfNotPresent
	}
	if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
		return v1.PullIfNotPresent
	}
	return v1.PullAlways
}

// pullAction is what to do about a container's image.
type pullAction int

const (
	useLocal  pullAction = iota // the image present on the node
	pullImage                   // pull it from its registry
	neverPull                   // absent and policy Never: fail
)

// decidePull applies the pull policy as the Kubernetes kubelet does.
func decidePull(policy v1.PullPolicy, present bool) pullAction {
	switch {
	case policy == v1.PullAlways:
		return pullImage
	case present:
		return useLocal
	case policy == v1.PullNever:
		return neverPull
	}
	return pullImage
}

// ensureImageLocked returns the image c starts from, pulling it first when
// the pull policy says so. While a pull runs or is in back-off it returns
// errImageNotReady with c.waiting set (ContainerCreating, ErrImagePull,
// ImagePullBackOff); pulls run in the background so the pod's status and
// deletion are not held up.
func (w *podWorker) ensureImageLocked(ctx context.Context, c *ctrState) (ctrd.Image, error) {
	ref, err := normalizeImage(c.spec.Image)
	if err != nil {
		c.waiting = &v1.ContainerStateWaiting{Reason: "InvalidImageName", Message: err.Error() + "; fix the image name in the pod spec"}
		return nil, err
	}
	c.image = ref
	ps := &c.pull
	if ps.ref != ref {
		*ps = pullState{ref: ref}
	}
	if ps.running {
		c.waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating", Message: fmt.Sprintf("pulling image %q", c.spec.Image)}
		return nil, errImageNotReady
	}
	if ps.finished {
		ps.finished = false
		img, perr := ps.img, ps.err
		ps.img, ps.err = nil, nil
		if perr != nil {
			ps.delay = nextPullDelay(ps.delay)
			ps.failedAt = time.Now()
			ps.retryAt = ps.failedAt.Add(ps.delay)
			ps.lastErr = perr.Error()
			ps.backoff = false
			c.waiting = &v1.ContainerStateWaiting{Reason: "ErrImagePull", Message: perr.Error()}
			w.eventLocked(c, v1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.spec.Image, perr))
			w.eventLocked(c, v1.EventTypeWarning, "Failed", "Error: ErrImagePull")
			return nil, errImageNotReady
		}
		ps.delay, ps.retryAt, ps.lastErr = 0, time.Time{}, ""
		return img, nil
	}
	img, err := w.k.cfg.Containerd.GetImage(ctx, ref)
	if err != nil && !errdefs.IsNotFound(err) {
		c.waiting = &v1.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf("look up image %q in containerd: %v (is containerd running?)", ref, err)}
		return nil, err
	}
	switch decidePull(pullPolicy(&c.spec), err == nil) {
	case useLocal:
		w.eventLocked(c, v1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", c.spec.Image))
		return img, nil
	case neverPull:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never; import it on node %s with `skiff image import FILE.tar` or change imagePullPolicy",
			c.spec.Image, w.k.cfg.NodeName)
		if c.waiting == nil || c.waiting.Reason != "ErrImageNeverPull" {
			w.eventLocked(c, v1.EventTypeWarning, "ErrImageNeverPull", msg)
		}
		c.waiting = &v1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: msg}
		return nil, errImageNotReady
	}
	if time.Now().Before(ps.retryAt) {
		if time.Since(ps.failedAt) < errImagePullShown && c.waiting != nil && c.waiting.Reason == "ErrImagePull" {
			return nil, errImageNotReady
		}
		c.waiting = &v1.ContainerStateWaiting{Reason: "ImagePullBackOff",
			Message: fmt.Sprintf("Back-off pulling image %q: %s", c.spec.Image, ps.lastErr)}
		if !ps.backoff {
			ps.backoff = true
			w.eventLocked(c, v1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", c.spec.Image))
		}
		return nil, errImageNotReady
	}
	w.startPullLocked(c, ref)
	c.waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating", Message: fmt.Sprintf("pulling image %q", c.spec.Image)}
	return nil, errImageNotReady
}

// startPullLocked pulls ref for c in the background; the result lands in
// c.pull and wakes the worker. The pull is canceled if the pod goes away.
func (w *podWorker) startPullLocked(c *ctrState, ref string) {
	ps := &c.pull
	ps.running = true
	pod := w.pod
	base := w.k.ctx
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithCancel(base)
	w.eventLocked(c, v1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", c.spec.Image))
	go func() {
		defer cancel()
		go w.cancelWhenGone(ctx, cancel)
		start := time.Now()
		var img ctrd.Image
		puller, err := w.k.imagePuller()
		if err == nil {
			img, err = puller.Pull(ctx, ref, w.pullCredentials(ctx, pod))
		}
		var size int64
		if err == nil {
			size, _ = img.Size(ctx)
		}
		w.mu.Lock()
		ps.running, ps.finished, ps.img, ps.err = false, true, img, err
		if err == nil {
			took := time.Since(start).Round(time.Millisecond)
			w.eventLocked(c, v1.EventTypeNormal, "Pulled",
				fmt.Sprintf("Successfully pulled image %q in %s. Image size: %d bytes.", c.spec.Image, took, size))
		}
		w.mu.Unlock()
		w.poke()
	}()
}

// cancelWhenGone cancels a pull once the pod is deleted.
func (w *podWorker) cancelWhenGone(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.deletionRequested() {
			cancel()
			return
		}
	}
}

// pullCredentials reads the pod's imagePullSecrets. A missing or malformed
// secret is logged and skipped, as Kubernetes does; the pull goes on
// without it.
func (w *podWorker) pullCredentials(ctx context.Context, pod *v1.Pod) []skctrd.Credential {
	var creds []skctrd.Credential
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		sec, err := w.k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			w.log.Warn("cannot read imagePullSecret; pulling without it", "secret", ref.Name, "err", err)
			w.event(pod, "", v1.EventTypeWarning, "FailedToRetrieveImagePullSecret",
				fmt.Sprintf("Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name))
			continue
		}
		var parsed []skctrd.Credential
		switch sec.Type {
		case v1.SecretTypeDockerConfigJson:
			parsed, err = skctrd.ParseDockerConfig(sec.Data[v1.DockerConfigJsonKey], false)
		case v1.SecretTypeDockercfg:
			parsed, err = skctrd.ParseDockerConfig(sec.Data[v1.DockerConfigKey], true)
		default:
			err = fmt.Errorf("secret type is %q, want %s", sec.Type, v1.SecretTypeDockerConfigJson)
		}
		if err != nil {
			w.log.Warn("imagePullSecret unusable; pulling without it", "secret", ref.Name, "err", err)
			continue
		}
		creds = append(creds, parsed...)
	}
	return creds
}

// eventLocked records an event about container c of the pod. The same
// event again within a minute (a start retried every second because, say,
// a ConfigMap is missing) is dropped.
func (w *podWorker) eventLocked(c *ctrState, typ, reason, msg string) {
	key := reason + "\x00" + msg
	if key == c.pull.lastEvent && time.Since(c.pull.lastEventAt) < time.Minute {
		return
	}
	c.pull.lastEvent, c.pull.lastEventAt = key, time.Now()
	w.event(w.pod, c.fieldPath(), typ, reason, msg)
}

// fieldPath names c in an Event's involvedObject, as the kubelet does.
func (c *ctrState) fieldPath() string {
	if c.init {
		return "spec.initContainers{" + c.spec.Name + "}"
	}
	return "spec.containers{" + c.spec.Name + "}"
}

// event records a core/v1 Event about pod, best effort (events.go).
func (w *podWorker) event(pod *v1.Pod, fieldPath, typ, reason, msg string) {
	w.k.events().record(pod, fieldPath, typ, reason, msg, w.k.cfg.NodeName)
}
