package records

import (
	"context"
	"sync"
)

// Memory is an in-memory Source: it delivers the services and slices it
// holds when Run starts, marks the sink synced, and forwards later changes
// made with its methods. Tests, benchmarks and static setups use it.
type Memory struct {
	mu       sync.Mutex
	services []*Service
	slices   []*EndpointSlice
	sink     Sink
	started  chan struct{}
}

// NewMemory returns a source holding the given objects.
func NewMemory(services []*Service, slices []*EndpointSlice) *Memory {
	return &Memory{services: services, slices: slices, started: make(chan struct{})}
}

// Run implements Source.
func (m *Memory) Run(ctx context.Context, sink Sink) error {
	m.mu.Lock()
	for _, s := range m.services {
		sink.SetService(s)
	}
	for _, s := range m.slices {
		sink.SetSlice(s)
	}
	sink.MarkSynced()
	m.sink = sink
	m.mu.Unlock()
	close(m.started)
	<-ctx.Done()
	m.mu.Lock()
	m.sink = nil
	m.mu.Unlock()
	return nil
}

// Started is closed once Run has delivered the initial objects.
func (m *Memory) Started() <-chan struct{} { return m.started }

// SetService adds or replaces a service, passing it on if running.
func (m *Memory) SetService(s *Service) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services = append(m.services, s)
	if m.sink != nil {
		m.sink.SetService(s)
	}
}

// SetSlice adds or replaces a slice, passing it on if running.
func (m *Memory) SetSlice(s *EndpointSlice) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slices = append(m.slices, s)
	if m.sink != nil {
		m.sink.SetSlice(s)
	}
}
