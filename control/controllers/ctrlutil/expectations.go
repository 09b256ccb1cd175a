package ctrlutil

import (
	"sync"
	"time"
)

// ExpectationsTTL is how long unobserved expectations are trusted before a
// controller syncs anyway (a missed watch event must not stall it forever).
const ExpectationsTTL = 5 * time.Minute

// Expectations remembers, per controller key, how many creations and which
// deletions the controller has issued but not yet seen in its informer, so a
// sync does not act twice on a stale cache.
type Expectations struct {
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	add int
	del map[string]bool
	at  time.Time
}

// NewExpectations returns an empty Expectations.
func NewExpectations() *Expectations { return &Expectations{m: map[string]*expectation{}} }

// Expect records that add creations and the deletions of the objects keyed
// by delKeys (namespace/name) are in flight for key.
func (e *Expectations) Expect(key string, add int, delKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{add: add, del: map[string]bool{}, at: time.Now()}
	for _, k := range delKeys {
		x.del[k] = true
	}
	e.m[key] = x
}

// CreationObserved lowers key's pending creations by one.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.add--
	}
}

// DeletionObserved marks the deletion of objKey as seen for key.
func (e *Expectations) DeletionObserved(key, objKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.del, objKey)
	}
}

// Satisfied reports whether key may sync: nothing is pending, or the
// expectations are older than ExpectationsTTL.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.add <= 0 && len(x.del) == 0) || time.Since(x.at) > ExpectationsTTL
}

// Delete forgets key.
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
