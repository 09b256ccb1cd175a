// Package apiserver is Skiff's Kubernetes-compatible API server.
//
// In: HTTPS requests from kubectl, client-go and Skiff's own components
// (client certificates signed by the cluster CA), and a storage.Store on
// etcd. Out: the Kubernetes REST API for the registered resources (see
// registry.go): get, list, watch, create, update, patch (JSON, merge,
// strategic merge) and delete/deletecollection, with metav1.Status errors,
// server-side Tables (via package printers), validation and defaulting (via
// package validation), discovery, OpenAPI (via package openapi), /version
// and health endpoints. The server also allocates Service ClusterIPs,
// NodePorts and node PodCIDRs from ranges kept in etcd, and on first start
// creates the cluster CA, the serving and admin certificates and
// <data-dir>/admin.kubeconfig (certs.go).
//
// Authentication is by client certificate only (anonymous requests get a
// 401 Status, except /healthz, /livez, /readyz, /cacerts and the join
// endpoint). Authorization (authz.go): system:masters may do everything; a
// node identity (CN system:node:<n>, O system:nodes) may read everything
// but pods' log/exec/attach/portforward, and write only its own Node, its
// Lease in kube-node-lease, the status and deletion of pods bound to it,
// and events; anyone else gets 403. Nodes join (join.go) by checking GET
// /cacerts against the CA hash in the token from JoinToken, then POSTing a
// CSR with the token secret to /skiff/v1/join, which returns their client
// certificate.
//
// Pods' log, exec, attach and portforward subresources are checked here
// (pod, container, options, node binding; kubeletopts.go) and proxied to
// the kubelet of the pod's node (kubeletproxy.go): the node's InternalIP
// and status.daemonEndpoints.kubeletEndpoint.Port (default 10250), over
// HTTPS with the client certificate CN skiff-apiserver-kubelet-client from
// <data-dir>/pki/apiserver-kubelet-client.crt. The kubelet's self-signed
// serving certificate is not verified. Logs stream unbuffered; SPDY
// upgrades and WebSocket v1-v4 are passed through. WebSocket v5 exec and
// attach (kubectl 1.30+) are translated to SPDY (kubeletws.go), and
// WebSocket-tunnelled port forwarding (kubectl 1.31+) is unwrapped onto a
// SPDY upgrade to the kubelet (kubelettunnel.go). An unreachable kubelet
// is a 503 Status naming the node and address.
package apiserver
