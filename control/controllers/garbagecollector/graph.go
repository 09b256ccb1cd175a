package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// node is what the collector remembers of one object.
type node struct {
	kind       *kind
	namespace  string
	name       string
	uid        types.UID
	owners     []metav1.OwnerReference
	deleting   bool
	finalizers []string
}

func (n *node) hasFinalizer(f string) bool { return slices.Contains(n.finalizers, f) }

// graph indexes objects by UID and owners to their dependents.
type graph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]bool
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]bool{}}
}

// upsert stores n and returns the previous version (nil if new).
func (g *graph) upsert(n *node) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[n.uid]
	if old != nil {
		for _, r := range old.owners {
			if d := g.dependents[r.UID]; d != nil {
				delete(d, n.uid)
				if len(d) == 0 {
					delete(g.dependents, r.UID)
				}
			}
		}
	}
	g.nodes[n.uid] = n
	for _, r := range n.owners {
		if g.dependents[r.UID] == nil {
			g.dependents[r.UID] = map[types.UID]bool{}
		}
		g.dependents[r.UID][n.uid] = true
	}
	return old
}

// remove forgets uid and returns what was stored.
func (g *graph) remove(uid types.UID) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[uid]
	if old == nil {
		return nil
	}
	delete(g.nodes, uid)
	for _, r := range old.owners {
		if d := g.dependents[r.UID]; d != nil {
			delete(d, uid)
			if len(d) == 0 {
				delete(g.dependents, r.UID)
			}
		}
	}
	return old
}

func (g *graph) get(uid types.UID) *node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.nodes[uid]
}

// dependentsOf returns the nodes that name uid as an owner.
func (g *graph) dependentsOf(uid types.UID) []*node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []*node
	for d := range g.dependents[uid] {
		if n := g.nodes[d]; n != nil {
			out = append(out, n)
		}
	}
	return out
}
