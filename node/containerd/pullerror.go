package containerd

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes/docker"
	remoteerrors "github.com/containerd/containerd/remotes/errors"
)

// PullErrorKind says why a pull failed.
type PullErrorKind string

// Kinds of pull failure.
const (
	PullInvalidName    PullErrorKind = "InvalidName"
	PullNotFound       PullErrorKind = "NotFound"
	PullUnauthorized   PullErrorKind = "Unauthorized"
	PullUnreachable    PullErrorKind = "Unreachable"
	PullHTTPMismatch   PullErrorKind = "PlainHTTPRegistry"
	PullTLS            PullErrorKind = "TLS"
	PullCanceled       PullErrorKind = "Canceled"
	PullStalled        PullErrorKind = "Stalled"
	PullFailed         PullErrorKind = "Failed"
	importHint                       = "or import the image on this node with `skiff image import FILE.tar`"
	pullSecretHint                   = "give the pod an imagePullSecrets entry naming a kubernetes.io/dockerconfigjson secret (kubectl create secret docker-registry)"
	insecureFlagHint                 = "start the agent with --insecure-registry %s (or plainHTTP in --registry-config)"
	registryConfigHint               = "set caFile or skipTLSVerify for %s in the agent's --registry-config"
)

// PullError is a failed pull: which image, from which registry, why, and
// (in Error) what to do about it.
type PullError struct {
	Ref, Registry string
	Kind          PullErrorKind
	Err           error
}

func (e *PullError) Unwrap() error { return e.Err }

func (e *PullError) Error() string {
	var what, todo string
	switch e.Kind {
	case PullInvalidName:
		return e.Err.Error() + "; fix the image name in the pod spec"
	case PullNotFound:
		what = fmt.Sprintf("image not found in registry %s", e.Registry)
		todo = "check the image name and tag, " + importHint
	case PullUnauthorized:
		what = fmt.Sprintf("registry %s refused access", e.Registry)
		todo = pullSecretHint + ", " + importHint
	case PullUnreachable:
		what = fmt.Sprintf("no registry reachable at %s", e.Registry)
		todo = "check the node's network and proxy, " + importHint
	case PullHTTPMismatch:
		what = fmt.Sprintf("registry %s speaks plain HTTP, not HTTPS", e.Registry)
		todo = fmt.Sprintf(insecureFlagHint, e.Registry)
	case PullTLS:
		what = fmt.Sprintf("registry %s has a certificate this node does not trust", e.Registry)
		todo = fmt.Sprintf(registryConfigHint, e.Registry) + ", " + importHint
	case PullStalled:
		what = fmt.Sprintf("download from registry %s stalled", e.Registry)
		todo = "check the registry and the node's network (the pull is retried with back-off), " + importHint
	case PullCanceled:
		return fmt.Sprintf("pull of %q canceled: %v", e.Ref, e.Err)
	default:
		what = fmt.Sprintf("pull from registry %s failed", e.Registry)
		todo = "check the agent log, " + importHint
	}
	return fmt.Sprintf("failed to pull image %q: %s: %v; %s", e.Ref, what, e.Err, todo)
}

// classifyPullError wraps err from containerd's Pull into a PullError.
func classifyPullError(ref, registry, scheme string, err error) *PullError {
	pe := &PullError{Ref: ref, Registry: registry, Kind: PullFailed, Err: err}
	var status remoteerrors.ErrUnexpectedStatus
	var x509Unknown x509.UnknownAuthorityError
	var x509Host x509.HostnameError
	var x509Invalid x509.CertificateInvalidError
	var netErr net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	msg := err.Error()
	switch {
	case errors.Is(err, errStalled):
		pe.Kind = PullStalled
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		pe.Kind = PullCanceled
	case errors.Is(err, errdefs.ErrNotFound):
		pe.Kind = PullNotFound
	case errors.Is(err, docker.ErrInvalidAuthorization):
		pe.Kind = PullUnauthorized
	case errors.As(err, &status) && (status.StatusCode == 401 || status.StatusCode == 403):
		pe.Kind = PullUnauthorized
	case errors.As(err, &status) && status.StatusCode == 404:
		pe.Kind = PullNotFound
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		pe.Kind = PullHTTPMismatch
	case errors.As(err, &x509Unknown) || errors.As(err, &x509Host) || errors.As(err, &x509Invalid) ||
		strings.Contains(msg, "tls: "):
		pe.Kind = PullTLS
		if scheme == "https" && strings.Contains(msg, "first record does not look like a TLS handshake") {
			pe.Kind = PullHTTPMismatch
		}
	case errors.As(err, &dnsErr) || errors.As(err, &opErr) || (errors.As(err, &netErr) && netErr.Timeout()):
		pe.Kind = PullUnreachable
	}
	return pe
}
