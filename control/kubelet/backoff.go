package kubelet

import "time"

// Back-off limits for restarting crashed containers, as in Kubernetes.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	// backoffReset: a container that ran this long resets its back-off.
	backoffReset = 10 * time.Minute
)

// backoff decides how long to wait before restarting a container. The first
// restart is immediate; after that the delay starts at 10 s and doubles up
// to 5 min. A run longer than 10 min resets it.
type backoff struct {
	delay time.Duration
}

// next records an exit after a run of length ran and returns the delay
// before the next start.
func (b *backoff) next(ran time.Duration) time.Duration {
	if ran >= backoffReset {
		b.delay = 0
	}
	d := b.delay
	switch {
	case b.delay == 0:
		b.delay = backoffInitial
	case b.delay*2 > backoffMax:
		b.delay = backoffMax
	default:
		b.delay *= 2
	}
	return d
}
