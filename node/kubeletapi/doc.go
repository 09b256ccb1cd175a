// Package kubeletapi serves the node's kubelet API over HTTPS: the
// endpoints the API server proxies `kubectl logs`, `exec`, `attach`,
// `port-forward` and `cp` to.
//
// In: a Kubelet (implemented by *control/kubelet.Kubelet) that reads
// container logs, runs exec processes, attaches to containers and dials
// ports inside pod network namespaces; the cluster CA that signs the API
// server's kubelet client certificate; a serving certificate
// (EnsureServingCert keeps a self-signed one in <data-dir>/pki/kubelet.crt
// and kubelet.key, regenerated when its SANs no longer cover the node).
//
// Out: an HTTPS server with
//
//	GET      /healthz                                   (no authentication)
//	GET      /containerLogs/{ns}/{pod}/{container}      follow, previous, tailLines, sinceSeconds, sinceTime, limitBytes, timestamps
//	GET|POST /exec/{ns}/{pod}/{container}               command=..&command=.., stdin, stdout, stderr, tty
//	GET|POST /attach/{ns}/{pod}/{container}             stdin, stdout, stderr, tty
//	GET|POST /portForward/{ns}/{pod}                    port (required for WebSocket)
//
// (exec and attach also accept /{ns}/{pod}/{uid}/{container}). Streams use
// k8s.io/cri-streaming: SPDY (v4 … v1 channel protocols, portforward.k8s.io)
// and the WebSocket channel protocols up to v4. Every other request must
// present a client certificate signed by the cluster CA with Subject CN
// APIServerClientCN: no or an untrusted certificate gets 401, another
// identity 403, both as Kubernetes Status JSON. Kubelet errors that are
// Status errors keep their code (404 unknown pod, 400 bad container).
package kubeletapi
