package storage

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// decodeCacheSize bounds the decoded objects kept for watchers that have
// not yet received an event; they all get it within moments of each other.
const decodeCacheSize = 512

// decodeCache lets every watch of a prefix decode a stored value once: an
// etcd event reaches each watcher (100 kubelets watching pods each get every
// pod change), and all but the first take the object the first one decoded.
// Such objects are shared: Event.Shared tells consumers to copy before
// changing them.
type decodeCache struct {
	mu   sync.Mutex
	m    map[decodeKey]runtime.Object
	ring []decodeKey // insertion order, for eviction
	next int
}

// decodeKey names one stored value as one revision of one key sees it.
type decodeKey struct {
	key string
	rev int64
}

// get returns the object stored under key at revision rev (data decoded
// into newItem(), with resourceVersion rev) from the cache, or decodes it.
func (c *decodeCache) get(s *Store, key string, data []byte, rev int64, newItem func() runtime.Object) (runtime.Object, error) {
	k := decodeKey{key, rev}
	c.mu.Lock()
	obj, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return obj, nil
	}
	obj = newItem()
	if err := s.decode(data, rev, obj); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[k]; ok {
		return prev, nil // another watcher was quicker
	}
	if c.m == nil {
		c.m = make(map[decodeKey]runtime.Object, decodeCacheSize)
		c.ring = make([]decodeKey, decodeCacheSize)
	}
	if old := c.ring[c.next]; old.key != "" {
		delete(c.m, old)
	}
	c.ring[c.next] = k
	c.next = (c.next + 1) % decodeCacheSize
	c.m[k] = obj
	return obj, nil
}
