package kubelet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// LogOptions selects what Logs returns.
type LogOptions struct {
	// Follow keeps the stream open and sends new output until the
	// instance exits or ctx ends.
	Follow bool
	// Previous reads the instance before the current one.
	Previous bool
	// TailLines, when > 0, starts at that many lines before the end.
	TailLines int64
	// LimitBytes, when > 0, stops after that many bytes.
	LimitBytes int64
	// SinceSeconds, when > 0, starts at output written in the last that
	// many seconds (to about a second; see logindex.go).
	SinceSeconds int64
	// SinceTime, when set, starts at output written from then on (the
	// later of SinceSeconds and SinceTime wins).
	SinceTime time.Time
	// Timestamps prefixes each line with the RFC 3339 time it was written
	// (to about a second).
	Timestamps bool
}

var podsResource = schema.GroupResource{Resource: "pods"}

// Logs streams the output of a container of pod ns/name. The reader must be
// closed. Errors are Kubernetes Status errors (404 for an unknown pod or
// container, 400 when there is no previous instance).
func (k *Kubelet) Logs(ctx context.Context, ns, name, container string, o LogOptions) (io.ReadCloser, error) {
	w := k.worker(ns, name)
	if w == nil {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	w.mu.Lock()
	var c *ctrState
	for _, cs := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if cs.spec.Name == container || container == "" && len(w.ctrs) == 1 && !cs.init {
			c = cs
		}
	}
	if c == nil {
		w.mu.Unlock()
		if container == "" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", name))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name))
	}
	// Instance n of a container logs to logs/<name>/<n>.log; the current
	// (or last) instance is number restarts.
	n := c.restarts
	var done chan struct{}
	if c.inst != nil {
		done = c.inst.done
	}
	if c.inst == nil && c.state.Terminated == nil {
		w.mu.Unlock()
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", c.spec.Name, name))
	}
	dir := w.dir
	cname := c.spec.Name
	w.mu.Unlock()
	if o.Previous {
		if n == 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", cname, name))
		}
		n, done = n-1, nil
	}
	path := filepath.Join(dir, "logs", cname, strconv.Itoa(int(n))+".log")
	f, err := os.Open(path)
	if err != nil {
		return nil, apierrors.NewNotFound(podsResource, name+"/"+cname+" log")
	}
	var start int64
	if o.TailLines > 0 {
		start = tailOffset(f, o.TailLines)
	}
	since := o.SinceTime
	if o.SinceSeconds > 0 {
		if t := time.Now().Add(-time.Duration(o.SinceSeconds) * time.Second); t.After(since) {
			since = t
		}
	}
	if !since.IsZero() {
		start = max(start, lineStart(f, k.logClock.offsetSince(path, since)))
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	var r io.ReadCloser = f
	if o.Follow && done != nil {
		r = &followReader{ctx: ctx, f: f, done: done}
	}
	if o.Timestamps {
		r = newStampReader(r, &k.logClock, path, start)
	}
	if o.LimitBytes > 0 {
		r = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(r, o.LimitBytes), r}
	}
	return r, nil
}

// tailOffset finds where the last n lines of f begin.
func tailOffset(f *os.File, n int64) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	size := st.Size()
	const chunk = 8192
	pos := size
	lines := int64(0)
	buf := make([]byte, chunk)
	// A trailing newline ends the last line; do not count it.
	if size > 0 {
		one := make([]byte, 1)
		if _, err := f.ReadAt(one, size-1); err == nil && one[0] == '\n' {
			pos = size - 1
		}
	}
	for pos > 0 {
		start := pos - chunk
		if start < 0 {
			start = 0
		}
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				lines++
				if lines == n {
					return start + int64(i) + 1
				}
			}
		}
		pos = start
	}
	return 0
}

// followReader reads a growing log file until the instance is done and the
// file is drained, or ctx ends.
type followReader struct {
	ctx  context.Context
	f    *os.File
	done chan struct{}
}

func (r *followReader) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 {
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		select {
		case <-r.done:
			// Drain what the shim wrote before exit.
			n, err := r.f.Read(p)
			if n > 0 {
				return n, nil
			}
			if err == nil {
				err = io.EOF
			}
			return 0, err
		case <-r.ctx.Done():
			return 0, io.EOF
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *followReader) Close() error { return r.f.Close() }
