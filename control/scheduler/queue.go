package scheduler

import (
	"sync"
	"time"
)

// queue is the scheduling queue: a deduplicating FIFO of pod keys waiting
// for an attempt, plus a side set of pods that did not fit anywhere. Those
// go back to the FIFO when the cluster changes (moveAll) or after they have
// waited unschedulableTimeout.
type queue struct {
	mu            sync.Mutex
	cond          *sync.Cond
	active        []string
	inActive      map[string]bool
	unschedulable map[string]time.Time
	cycle         int64 // attempts popped so far
	moveCycle     int64 // cycle at the last moveAll
	closed        bool
}

func newQueue() *queue {
	q := &queue{inActive: map[string]bool{}, unschedulable: map[string]time.Time{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add puts key in the active FIFO unless it is already there.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key string) {
	delete(q.unschedulable, key)
	if q.inActive[key] || q.closed {
		return
	}
	q.inActive[key] = true
	q.active = append(q.active, key)
	q.cond.Signal()
}

// addAfter re-adds key after d (used after binding errors).
func (q *queue) addAfter(key string, d time.Duration) {
	time.AfterFunc(d, func() { q.add(key) })
}

// remove forgets key; a copy still in the FIFO is skipped when popped
// because the pod no longer exists or is bound.
func (q *queue) remove(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.unschedulable, key)
}

// pop blocks for the next key. It returns the scheduling cycle the attempt
// belongs to, and ok=false once the queue is closed.
func (q *queue) pop() (key string, cycle int64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", 0, false
	}
	key = q.active[0]
	q.active[0] = ""
	q.active = q.active[1:]
	delete(q.inActive, key)
	q.cycle++
	return key, q.cycle, true
}

// unschedulableAt parks key after a failed attempt from cycle. If the
// cluster changed while the attempt ran, the pod is retried shortly instead.
func (q *queue) unschedulableAt(key string, cycle int64, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.moveCycle >= cycle {
		q.addAfter(key, time.Second) // fires later, without the lock
		return
	}
	q.unschedulable[key] = now
}

// moveAll sends every parked pod back to the FIFO.
func (q *queue) moveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for key := range q.unschedulable {
		q.addLocked(key)
	}
}

// flushOlderThan sends pods parked before cutoff back to the FIFO.
func (q *queue) flushOlderThan(cutoff time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for key, at := range q.unschedulable {
		if at.Before(cutoff) {
			q.addLocked(key)
		}
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// lens reports the number of active and parked keys.
func (q *queue) lens() (active, parked int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.unschedulable)
}
