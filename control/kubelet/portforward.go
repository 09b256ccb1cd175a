package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// PortForward connects stream to TCP port of pod ns/name: it dials
// 127.0.0.1:port inside the pod's network namespace and copies both ways
// until the pod side closes, the client's stream fails, or ctx ends.
func (k *Kubelet) PortForward(ctx context.Context, ns, name string, port int32, stream io.ReadWriteCloser) error {
	if port <= 0 || port > 65535 {
		return apierrors.NewBadRequest(fmt.Sprintf("port %d out of range 1-65535", port))
	}
	path, err := k.PodNetNS(ns, name)
	if err != nil {
		return err
	}
	conn, err := nsDialer(path)(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("connect to port %d of pod %s/%s: %w (is the container listening on it?)", port, ns, name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		// Ends when the client stops sending (then the half-close is passed
		// on) or when the caller closes stream after we return.
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(stream, conn); err != nil && ctx.Err() == nil {
		return fmt.Errorf("copy from port %d of pod %s/%s: %w", port, ns, name, err)
	}
	return nil
}

// PodNetNS is the network namespace path of pod ns/name, or a Status error
// when the pod is unknown or its sandbox is not ready yet.
func (k *Kubelet) PodNetNS(ns, name string) (string, error) {
	w := k.worker(ns, name)
	if w == nil {
		return "", apierrors.NewNotFound(podsResource, name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sandbox {
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %s has no network yet; wait until it is Running", name))
	}
	return w.netns, nil
}
