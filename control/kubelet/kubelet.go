package kubelet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	skctrd "github.com/skiffnet/skiff/node/containerd"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ctrd "github.com/containerd/containerd"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/internal/nodepods"
)

// Labels on every containerd container the kubelet creates.
const (
	labelPodUID       = "io.skiff.pod.uid"
	labelPodName      = "io.skiff.pod.name"
	labelPodNamespace = "io.skiff.pod.namespace"
	labelContainer    = "io.skiff.container.name"
	labelRestart      = "io.skiff.container.restart"
)

// Config configures a Kubelet.
type Config struct {
	// NodeName is this node's Node object name. Required.
	NodeName string
	// NodeIP is reported as status.hostIP.
	NodeIP string
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Containerd is a client whose default namespace is Skiff's. Required.
	Containerd *ctrd.Client
	// RuntimeOpts is applied to every new container (node/containerd's
	// Daemon.RuntimeOpts). Required.
	RuntimeOpts ctrd.NewContainerOpts
	// Net wires pod network namespaces. Required.
	Net *podnet.Network
	// DataDir is the agent data dir; pods live under DataDir/pods. Required.
	DataDir string
	// NetNSDir holds pinned pod namespaces; default /run/netns.
	NetNSDir string
	// NetNSPrefix starts every pod namespace name; default "skiff-" plus a
	// short hash of NodeName, so agents sharing /run/netns (tests, several
	// nodes on one machine) never reconcile each other's namespaces away.
	NetNSPrefix string
	// ClusterDNS are the nameservers for dnsPolicy ClusterFirst.
	ClusterDNS []string
	// ClusterDomain; default cluster.local.
	ClusterDomain string
	// HostResolvConf is used for dnsPolicy Default; default /etc/resolv.conf.
	HostResolvConf string
	// Snapshotter for container root filesystems; default overlayfs.
	Snapshotter string
	// HostNetNS is the path of the namespace probes and HTTP hooks dial
	// from; empty means the agent's own. Tests set it together with
	// podnet.Config.HostNetNS.
	HostNetNS string
	// Services, when set, gives the Kubernetes service environment
	// variables from a watch cache instead of two API reads per container
	// start.
	Services *ServiceCache
	// Pods, when set, is the agent's shared watch of this node's pods
	// (internal/nodepods); Run starts it. Default: a watch of its own.
	Pods informers.SharedInformerFactory
	// ShimGroups is how many containerd shims the node's pods share: each
	// pod's containers go to one of that many shims, dealt out in turn. 0
	// gives every pod a shim of its own, as Kubernetes' CRI does. A
	// shared shim saves a process start per pod and its memory; a shim that
	// dies loses track of the containers of all pods in its group.
	ShimGroups int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Kubelet runs the pods bound to one node.
type Kubelet struct {
	cfg  Config
	log  *slog.Logger
	dial dialFunc

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
	ctx     context.Context

	logClock logClock // log file growth, for logs --since and --timestamps

	// createSlots bounds concurrent container creations in containerd.
	createSlots chan struct{}
	shimTurn    atomic.Uint64 // shared shims dealt out so far (shimGroup)
	// images answers what containerd would about each image (imagecache.go).
	images *imageCache

	eventsOnce sync.Once
	eventSink  *eventSink // the kubelet's Events, written in order (events.go)

	tokens         *tokenManager // service-account tokens of projected volumes
	projectedEvery time.Duration // how often projected volumes are rewritten

	pullerMu sync.Mutex
	puller   *skctrd.Puller // SetImagePuller, or a default one on first use
}

// New checks the config and returns a Kubelet; Run starts it.
func New(cfg Config) (*Kubelet, error) {
	switch {
	case cfg.NodeName == "":
		return nil, errors.New("kubelet: NodeName is required (--node-name)")
	case cfg.Client == nil:
		return nil, errors.New("kubelet: Client is required")
	case cfg.Containerd == nil:
		return nil, errors.New("kubelet: Containerd client is required")
	case cfg.Net == nil:
		return nil, errors.New("kubelet: Net (podnet) is required")
	case cfg.DataDir == "":
		return nil, errors.New("kubelet: DataDir is required (--data-dir)")
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = podnet.DefaultNetNSDir
	}
	if cfg.NetNSPrefix == "" {
		sum := sha256.Sum256([]byte(cfg.NodeName))
		cfg.NetNSPrefix = "skiff-" + hex.EncodeToString(sum[:4]) + "-"
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.HostResolvConf == "" {
		cfg.HostResolvConf = "/etc/resolv.conf"
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "pods"), 0o711); err != nil {
		return nil, fmt.Errorf("kubelet: create pod dir: %w", err)
	}
	log := cfg.Logger.With("component", "kubelet", "node", cfg.NodeName)
	return &Kubelet{cfg: cfg, log: log, workers: map[types.UID]*podWorker{}, dial: nsDialer(cfg.HostNetNS),
		tokens: newTokenManager(cfg.Client, nil, log), projectedEvery: time.Minute,
		createSlots: make(chan struct{}, 4), images: newImageCache()}, nil
}

// takeCreateSlot waits for one of the create slots, first come first
// served, and returns its release. A Kubelet not made by New has no slots
// and never waits.
func (k *Kubelet) takeCreateSlot(ctx context.Context) (release func(), err error) {
	if k.createSlots == nil {
		return func() {}, nil
	}
	select {
	case k.createSlots <- struct{}{}:
		return func() { <-k.createSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (k *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.DataDir, "pods", string(uid))
}

func (k *Kubelet) netnsPath(uid types.UID) string {
	return filepath.Join(k.cfg.NetNSDir, k.cfg.NetNSPrefix+string(uid))
}

// Run watches this node's pods and runs them until ctx ends. Containers keep
// running when Run returns; the next Run adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	k.ctx = ctx
	go k.sampleLogs(ctx)
	factory := k.cfg.Pods
	if factory == nil {
		factory = nodepods.Factory(k.cfg.Client, k.cfg.NodeName)
	}
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.onPod(obj) },
		UpdateFunc: func(_, obj any) { k.onPod(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*v1.Pod); ok {
				k.onPodGone(p)
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("kubelet: pod informer did not sync: %w", ctx.Err())
	}
	live := map[types.UID]bool{}
	for _, obj := range inf.GetStore().List() {
		if p, ok := obj.(*v1.Pod); ok && p.Spec.NodeName == k.cfg.NodeName {
			live[p.UID] = true
		}
	}
	if err := k.reconcile(ctx, live); err != nil {
		k.log.Error("reconcile on start (continuing)", "err", err)
	}
	k.log.Info("kubelet running", "pods", len(live))
	<-ctx.Done()
	if k.cfg.Pods == nil {
		factory.Shutdown() // its own; a shared one is the agent's
	}
	k.mu.Lock()
	for _, w := range k.workers {
		w.poke()
	}
	k.mu.Unlock()
	k.wg.Wait()
	return nil
}

func (k *Kubelet) onPod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if w, ok := k.workers[pod.UID]; ok {
		w.update(pod)
		return
	}
	if k.ctx == nil || k.ctx.Err() != nil {
		return
	}
	terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	if terminal && pod.DeletionTimestamp == nil {
		// Already finished (before an agent restart): nothing to run.
		return
	}
	w := newPodWorker(k, pod)
	k.workers[pod.UID] = w
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run(k.ctx)
		k.mu.Lock()
		if k.workers[pod.UID] == w {
			delete(k.workers, pod.UID)
		}
		k.mu.Unlock()
		k.tokens.forget(pod.UID)
	}()
}

// onPodGone handles a pod removed from the API without our graceful path
// (force delete): everything of it is killed and removed at once.
func (k *Kubelet) onPodGone(pod *v1.Pod) {
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil {
		w.markGone()
	}
}

// worker finds the running worker of ns/name.
func (k *Kubelet) worker(ns, name string) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range k.workers {
		p := w.currentPod()
		if p.Namespace == ns && p.Name == name {
			return w
		}
	}
	return nil
}

// isLive reports whether uid was a pod of this node when reconcile began or
// got a worker since: pods that arrive while reconcile runs are not
// cleaned up under their worker's feet.
func (k *Kubelet) isLive(live map[types.UID]bool, uid types.UID) bool {
	if live[uid] {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.workers[uid]
	return ok
}

// reconcile removes what belongs to pods that are gone: containers,
// namespaces, addresses, veths and pod directories.
func (k *Kubelet) reconcile(ctx context.Context, live map[types.UID]bool) error {
	var errs []error
	ctrs, err := k.cfg.Containerd.Containers(ctx, "labels."+labelPodUID)
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if err != nil {
			continue
		}
		if k.isLive(live, types.UID(labels[labelPodUID])) {
			continue
		}
		k.log.Info("removing container of gone pod", "container", c.ID(), "pod", labels[labelPodNamespace]+"/"+labels[labelPodName])
		if err := removeContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	nss, err := podnet.ListNetNS(k.cfg.NetNSDir, k.cfg.NetNSPrefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range nss {
		uid := types.UID(strings.TrimPrefix(filepath.Base(p), k.cfg.NetNSPrefix))
		if !k.isLive(live, uid) {
			k.log.Info("removing netns of gone pod", "netns", p)
			if err := podnet.DeleteNetNS(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if _, err := k.cfg.Net.GC(ctx, func(r podnet.PodRef) bool { return k.isLive(live, types.UID(r.UID)) }); err != nil {
		errs = append(errs, err)
	}
	entries, _ := os.ReadDir(filepath.Join(k.cfg.DataDir, "pods"))
	for _, e := range entries {
		if !k.isLive(live, types.UID(e.Name())) {
			unmountPodDir(filepath.Join(k.cfg.DataDir, "pods", e.Name()))
			_ = os.RemoveAll(filepath.Join(k.cfg.DataDir, "pods", e.Name()))
		}
	}
	return errors.Join(errs...)
}

// removeContainer kills a container's task and deletes it with its snapshot.
func removeContainer(ctx context.Context, c ctrd.Container) error {
	if t, err := c.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, ctrd.WithProcessKill); err != nil {
			return fmt.Errorf("delete task %s: %w", c.ID(), err)
		}
	}
	if err := c.Delete(ctx, ctrd.WithSnapshotCleanup); err != nil {
		return fmt.Errorf("delete container %s: %w", c.ID(), err)
	}
	return nil
}

// waitFor polls cond every interval until it holds or timeout passes.
func waitFor(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(interval)
	}
}

// shimGroupAnnotation tells containerd's runc v2 shim which containers
// share one shim process.
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// shimGroup names the shim a new pod's containers will run under
// (Config.ShimGroups). Shared shims are dealt out in turn, so that pods
// arriving together land on different shims - a shim creates one
// container at a time - and every shim serves about as many pods.
func (k *Kubelet) shimGroup(uid types.UID) string {
	if k.cfg.ShimGroups <= 0 {
		return "skiff-pod-" + string(uid)
	}
	n := k.shimTurn.Add(1) - 1
	return fmt.Sprintf("skiff-shim-%d", n%uint64(k.cfg.ShimGroups))
}
