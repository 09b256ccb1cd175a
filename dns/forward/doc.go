// Package forward sends questions outside the cluster zone to upstream
// resolvers.
//
// It takes in a list of upstream addresses (from --upstream or the node's
// /etc/resolv.conf) and a query, and puts out the first upstream's answer.
// Queries go over UDP with a 1232-byte EDNS0 buffer and are retried over TCP
// when the UDP answer is truncated; an upstream that errors or times out is
// skipped for the next one.
package forward
