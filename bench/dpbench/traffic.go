package dpbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffnet/skiff/internal/nstest"
)

// Request bytes understood by the backend server.
const (
	reqPing   = 'R' // reply with the backend's id byte, then close
	reqStream = 'S' // read and discard until EOF, then reply with the id
)

// backendServer is the tiny TCP server running inside one backend
// namespace. firstAt records when the first connection was accepted after
// arm(), for the endpoint-change measurement.
type backendServer struct {
	id      byte
	ln      net.Listener
	armed   atomic.Bool
	firstAt atomic.Int64 // unix nanos, 0 = none since arm
}

func startServer(ns *nstest.NS, id byte, port int) (*backendServer, error) {
	s := &backendServer{id: id}
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
		s.ln = ln
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("backend %d listen: %w", id, err)
	}
	go s.serve()
	return s, nil
}

func (s *backendServer) arm() {
	s.firstAt.Store(0)
	s.armed.Store(true)
}

func (s *backendServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if s.armed.Load() {
			s.firstAt.CompareAndSwap(0, time.Now().UnixNano())
		}
		go s.handle(c)
	}
}

func (s *backendServer) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return
	}
	if b[0] == reqStream {
		_ = c.SetDeadline(time.Time{})
		if _, err := io.Copy(io.Discard, c); err != nil {
			return
		}
	}
	_, _ = c.Write([]byte{s.id})
}

func (s *backendServer) close() { _ = s.ln.Close() }

// transact opens a new connection to dst, sends one request byte and
// returns the backend id from the reply.
func transact(d *net.Dialer, dst netip.AddrPort) (byte, error) {
	c, err := d.Dial("tcp4", dst.String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte{reqPing}); err != nil {
		return 0, fmt.Errorf("send to %s: %w", dst, err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, fmt.Errorf("reply from %s: %w", dst, err)
	}
	return b[0], nil
}

// targets picks the destination of the i-th request: the service VIP for
// load-balancing modes, or the backends themselves in turn for direct.
type targets []netip.AddrPort

func (t targets) pick(i int) netip.AddrPort { return t[i%len(t)] }

// connRate runs `workers` clients in the client namespace, each opening a
// new connection per request, for dur; it returns completed requests per
// second. The first error stops the run and is returned.
func connRate(ctx context.Context, client *nstest.NS, dst targets, workers int, dur time.Duration) (float64, error) {
	var (
		count   atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			err := client.Do(func() error {
				d := &net.Dialer{Timeout: 5 * time.Second}
				for i := w; ; i += workers {
					select {
					case <-stop:
						return nil
					case <-ctx.Done():
						return nil
					default:
					}
					if _, err := transact(d, dst.pick(i)); err != nil {
						return err
					}
					count.Add(1)
				}
			})
			if err != nil {
				errOnce.Do(func() { firstEr = err; cancel() })
			}
		}(w)
	}
	select {
	case <-time.After(dur):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if firstEr != nil {
		return 0, firstEr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(count.Load()) / elapsed.Seconds(), nil
}

// latency runs one client sequentially for dur (at least 200 requests) and
// returns the p50 and p99 time from dial to reply.
func latency(ctx context.Context, client *nstest.NS, dst targets, dur time.Duration) (p50, p99 time.Duration, err error) {
	var samples []time.Duration
	err = client.Do(func() error {
		d := &net.Dialer{Timeout: 5 * time.Second}
		end := time.Now().Add(dur)
		for i := 0; time.Now().Before(end) || i < 200; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t0 := time.Now()
			if _, err := transact(d, dst.pick(i)); err != nil {
				return err
			}
			samples = append(samples, time.Since(t0))
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return Percentile(samples, 50), Percentile(samples, 99), nil
}

// throughput streams over one TCP connection for dur and returns Gbit/s as
// counted by bytes the backend acknowledged reading (the reply comes after
// the backend drained the stream).
func throughput(ctx context.Context, client *nstest.NS, dst netip.AddrPort, dur time.Duration) (float64, error) {
	var gbps float64
	err := client.Do(func() error {
		c, err := net.DialTimeout("tcp4", dst.String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		buf[0] = reqStream
		var sent int64
		start := time.Now()
		end := start.Add(dur)
		for time.Now().Before(end) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n, err := c.Write(buf)
			sent += int64(n)
			if err != nil {
				return fmt.Errorf("stream to %s: %w", dst, err)
			}
			buf[0] = 0
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("stream end reply from %s: %w", dst, err)
		}
		gbps = float64(sent) * 8 / time.Since(start).Seconds() / 1e9
		return nil
	})
	return gbps, err
}

// probeUntil connects to dst repeatedly from `workers` clients until a reply
// comes from backend id want or timeout passes. A failed probe connection
// does not end the wait (the change may be under way); failures are logged
// and, when the new backend never answers, the first is returned.
func probeUntil(ctx context.Context, client *nstest.NS, dst netip.AddrPort, want byte, workers int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		wg     sync.WaitGroup
		found  atomic.Bool
		failed atomic.Int64
		mu     sync.Mutex
		first  error
	)
	fail := func(err error) {
		failed.Add(1)
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := client.Do(func() error {
				d := &net.Dialer{Timeout: 2 * time.Second}
				for ctx.Err() == nil && !found.Load() {
					id, err := transact(d, dst)
					if err != nil {
						if ctx.Err() == nil {
							fail(err)
							time.Sleep(time.Millisecond)
						}
						continue
					}
					if id == want {
						found.Store(true)
						cancel()
					}
				}
				return nil
			})
			if err != nil { // could not enter the client namespace
				fail(err)
				cancel()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		slog.Warn("endpoint change: probe connections failed while waiting for the new backend", "dst", dst, "failed", n, "first", first)
	}
	if found.Load() {
		return nil
	}
	if first != nil {
		return first
	}
	return errors.New("new backend never answered within " + timeout.String())
}
