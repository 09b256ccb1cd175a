package ctrlutil

import (
	"context"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NewQueue returns a rate-limited work queue of object keys whose per-item
// backoff runs from 5ms to 30s.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Key returns the namespace/name key of obj (tombstones included), or "" when
// obj has no metadata.
func Key(obj any) string {
	k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return ""
	}
	return k
}

// Run waits for the informers to sync, then runs workers goroutines that pop
// keys from queue and call sync; a failed key is retried with backoff. It
// returns when ctx ends, after shutting the queue down.
func Run(ctx context.Context, name string, workers int, queue workqueue.TypedRateLimitingInterface[string],
	sync func(ctx context.Context, key string) error, synced ...cache.InformerSynced) {
	defer queue.ShutDown()
	log := slog.With("controller", name)
	log.Info("starting controller", "workers", workers)
	defer log.Info("controller stopped")
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		log.Warn("informer caches did not sync before shutdown")
		return
	}
	if workers < 1 {
		workers = 1
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for processNext(ctx, log, queue, sync) {
			}
		}, time.Second)
	}
	<-ctx.Done()
}

func processNext(ctx context.Context, log *slog.Logger, queue workqueue.TypedRateLimitingInterface[string],
	sync func(ctx context.Context, key string) error) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := sync(ctx, key); err != nil {
		switch {
		case ctx.Err() != nil:
		case apierrors.IsConflict(err):
			// A stale cache raced another writer; the retry sees fresh data.
			log.Debug("sync hit a write conflict; retrying", "key", key, "err", err)
		default:
			log.Warn("sync failed; retrying with backoff", "key", key, "err", err, "retries", queue.NumRequeues(key))
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}
