package kubelet

import (
	"context"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

// rewatch re-attaches to inst's task after the wait on it broke because
// containerd went away. It retries until containerd answers (or the
// kubelet stops). It returns a new exit channel while the task still runs,
// or done=true with the exit code and time when the task has ended or is
// gone (code 255 when unknown).
func (w *podWorker) rewatch(inst *instance) (exitCh <-chan ctrd.ExitStatus, code uint32, at time.Time, done bool) {
	for attempt := 0; ; attempt++ {
		if w.k.ctx != nil && w.k.ctx.Err() != nil {
			return nil, 255, time.Now(), true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		task, err := inst.ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			cancel()
			w.log.Warn("container's task is gone after containerd came back", "id", inst.id)
			return nil, 255, time.Now(), true
		}
		if err == nil {
			st, serr := task.Status(ctx)
			cancel()
			switch {
			case serr == nil && st.Status == ctrd.Stopped:
				return nil, st.ExitStatus, st.ExitTime, true
			case serr == nil:
				ch, werr := task.Wait(context.Background())
				if werr == nil {
					w.mu.Lock()
					inst.task = task
					w.mu.Unlock()
					w.log.Info("watching container again after a containerd restart", "id", inst.id)
					return ch, 0, time.Time{}, false
				}
			}
		} else {
			cancel()
		}
		if attempt == 0 {
			w.log.Warn("lost containerd while watching a container; waiting for it to come back", "id", inst.id, "err", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
