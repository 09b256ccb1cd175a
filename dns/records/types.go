package records

import (
	"context"
	"net/netip"
)

// Port is one service or endpoint port. Protocol is "TCP", "UDP" or "SCTP".
type Port struct {
	Name     string
	Protocol string
	Port     uint16
}

// Service is the part of a Kubernetes Service the DNS needs.
type Service struct {
	Namespace string
	Name      string
	// ClusterIPs holds the service's virtual IPs; empty for headless and
	// ExternalName services.
	ClusterIPs []netip.Addr
	// Headless is true when spec.clusterIP is "None".
	Headless bool
	// ExternalName is set for type ExternalName services.
	ExternalName string
	Ports        []Port
}

// Endpoint is one endpoint of an EndpointSlice.
type Endpoint struct {
	Addrs    []netip.Addr
	Hostname string
	// Ready follows the EndpointSlice rule: a nil condition counts as ready.
	Ready bool
}

// EndpointSlice is the part of a discovery.k8s.io/v1 EndpointSlice the DNS
// needs. Service is the value of its kubernetes.io/service-name label.
type EndpointSlice struct {
	Namespace string
	Name      string
	Service   string
	Ports     []Port
	Endpoints []Endpoint
}

// Sink receives the cluster state. Index implements it.
type Sink interface {
	SetService(*Service)
	DeleteService(namespace, name string)
	SetSlice(*EndpointSlice)
	DeleteSlice(namespace, name string)
	// MarkSynced reports that the initial listing has been delivered.
	MarkSynced()
}

// Source feeds a Sink until ctx ends. Run returns nil on cancellation and an
// error only when the source cannot continue.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}
