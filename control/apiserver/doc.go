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
// Authentication is by client certificate or, without one, by a
// service-account bearer token (authn.go); anonymous requests and invalid,
// expired or orphaned tokens get a 401 Status, except on /healthz, /livez,
// /readyz, /cacerts and the join endpoint. Authorization (authz.go) is a
// fixed policy: system:masters may do everything; a node identity (CN
// system:node:<n>, O system:nodes) may read everything but pods'
// log/exec/attach/portforward, and write only its own Node, its Lease in
// kube-node-lease, the status and deletion of pods bound to it, events,
// and tokens for pods bound to it; a service account
// (system:serviceaccount:<ns>:<name>) may get, list and watch everything in
// its own namespace except secrets, and ask SelfSubjectAccessReviews;
// anyone else gets 403. Discovery, OpenAPI and /version need only
// authentication.
//
// Service accounts (satoken.go, tokenrequest.go, saadmission.go): on first
// start the server makes an ECDSA P-256 signing key, <data-dir>/pki/sa.key,
// published in etcd like the CA so servers sharing etcd share it. POST
// .../serviceaccounts/<name>/token (authentication.k8s.io/v1 TokenRequest,
// what `kubectl create token` sends) returns an ES256 JWT: iss and default
// aud https://kubernetes.default.svc.cluster.local, sub
// system:serviceaccount:<ns>:<name>, exp/iat/nbf/jti and the kubernetes.io
// claim (namespace, serviceaccount, and the bound pod, secret or node with
// uids). expirationSeconds defaults to 3600 and must be at least 600. A
// token authenticates while it is unexpired, carries the API audience and
// its service account and bound object still exist with the same uids
// (looked up with a 2 s cache). Creating a namespace creates its "default"
// ServiceAccount at once; pod creation defaults spec.serviceAccountName,
// refuses a missing account with 403 (waiting up to 2 s for "default"),
// and, unless automountServiceAccountToken is false, adds the projected
// kube-api-access-xxxxx volume (token, ca.crt from ConfigMap
// kube-root-ca.crt, namespace) mounted at
// /var/run/secrets/kubernetes.io/serviceaccount. Mirror pods are skipped.
//
// Nodes join (join.go) by checking GET
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
