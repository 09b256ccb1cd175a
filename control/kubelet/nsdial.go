package kubelet

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// dialFunc opens a connection the way probes and hooks do.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// nsDialer dials from inside the network namespace at path (empty: the
// agent's own). A socket keeps the namespace it was created in, so only the
// dial itself runs on a thread switched into the namespace.
func nsDialer(path string) dialFunc {
	var d net.Dialer
	if path == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := netns.Get()
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer orig.Close()
			target, err := netns.GetFromPath(path)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("open netns %s: %w", path, err)}
				return
			}
			defer target.Close()
			if err := netns.Set(target); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("enter netns %s: %w", path, err)}
				return
			}
			c, err := d.DialContext(ctx, network, addr)
			// Only a thread back home may run other goroutines; if the
			// switch back fails the thread stays locked and dies with us.
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
