// Package join turns a join token into node credentials, the way k3s agents
// join: trust on first use, pinned by the token.
//
// In: the server URL, a token from `skiff token create`
// (K10<sha256 of the CA>::server:<secret>) and the node name.
// Out: <dir>/node.key, <dir>/node.crt, <dir>/ca.crt and <dir>/node.kubeconfig
// for the identity system:node:<name> (group system:nodes). The server's CA
// is fetched anonymously and checked against the token's hash before the
// secret or any request for a certificate is sent.
package join
