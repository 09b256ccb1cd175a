// Package events gives Skiff's controllers an Event recorder: a client-go
// record.EventBroadcaster that writes core/v1 Events through the API
// (POST/PATCH /api/v1/namespaces/<ns>/events) and mirrors them to slog.
// It takes a kubernetes.Interface and puts out record.EventRecorder values
// per component ("deployment-controller", "replicaset-controller", ...).
package events
