package staticpods

import (
	"context"
	"errors"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/skiffnet/skiff/internal/nodepods"
)

// Config is what Run needs.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeUID goes into the mirror pods' ownerReference; empty: read from
	// the Node object (Run waits until it exists).
	NodeUID types.UID
	// Dir holds the manifests; empty disables static pods (Run returns nil).
	Dir    string
	Logger *slog.Logger
	// Interval between reads of Dir; default 3 s.
	Interval time.Duration
	// Pods, when set, is the agent's shared watch of this node's pods
	// (internal/nodepods); Run starts it. Default: a watch of its own.
	Pods informers.SharedInformerFactory
}

// DefaultDir is where `skiff agent` looks for static pods by default.
const DefaultDir = "/etc/skiff/manifests"

// Run keeps the mirror pods of this node in step with the files in
// cfg.Dir until ctx ends. It returns nil when ctx ends and an error only
// for a bad Config.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.NodeName == "" {
		return errors.New("staticpods: Config needs Client and NodeName")
	}
	if cfg.Dir == "" {
		return nil
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 3 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "staticpods", "dir", cfg.Dir)
	if cfg.NodeUID == "" {
		uid, ok := nodeUID(ctx, cfg.Client, cfg.NodeName, log)
		if !ok {
			return nil
		}
		cfg.NodeUID = uid
	}
	factory := cfg.Pods
	if factory == nil {
		factory = nodepods.Factory(cfg.Client, cfg.NodeName)
	}
	inf := factory.Core().V1().Pods().Informer()
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if cfg.Pods == nil {
		defer factory.Shutdown() // its own; a shared one is the agent's
	}
	log.Info("static pods: waiting for this node's pods from the API server")
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil
	}
	s := &syncer{cfg: cfg, log: log, store: inf.GetStore(),
		files: map[string]*manifest{}, deleting: map[types.UID]bool{}}
	log.Info("static pods: watching manifests", "every", cfg.Interval)
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	s.scan()
	s.reconcile(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.scan()
			s.reconcile(ctx, true)
		case <-kick:
			s.reconcile(ctx, false)
		}
	}
}

// nodeUID reads the Node's UID, retrying until it exists or ctx ends.
func nodeUID(ctx context.Context, c kubernetes.Interface, name string, log *slog.Logger) (types.UID, bool) {
	for attempt := 0; ; attempt++ {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return n.UID, true
		}
		if attempt == 0 {
			log.Warn("static pods wait for this node's Node object; check that the API server is reachable and the node registered", "node", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(2 * time.Second):
		}
	}
}

// mirrorsOf lists the mirror pods of node in the informer's store.
func mirrorsOf(store cache.Store, node string) map[string]*v1.Pod {
	out := map[string]*v1.Pod{}
	for _, obj := range store.List() {
		p, ok := obj.(*v1.Pod)
		if ok && p.Spec.NodeName == node && isMirror(p) {
			out[p.Namespace+"/"+p.Name] = p
		}
	}
	return out
}
