package kubeletapi

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
)

// trackingListener hands out connections that end their request contexts
// when the peer goes away. Stream sessions hijack the connection, after
// which net/http no longer notices a client leaving.
type trackingListener struct {
	net.Listener
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

type trackedConn struct {
	net.Conn
	mu     sync.Mutex
	cancel context.CancelFunc
	done   bool
}

func (c *trackedConn) end() {
	c.mu.Lock()
	c.done = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Read ends the connection's context on EOF or a broken connection; a
// deadline timeout (net/http aborts its background read that way when a
// handler hijacks) is not an end.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			c.end()
		}
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.end()
	return c.Conn.Close()
}

// connContext gives each connection a context that ends with it.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, ok := c.(*trackedConn)
	if !ok {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	t.mu.Lock()
	t.cancel = cancel
	done := t.done
	t.mu.Unlock()
	if done {
		cancel()
	}
	return ctx
}
