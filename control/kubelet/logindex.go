package kubelet

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"time"
)

// Container output goes to plain log files written by the shim, without
// times. The log clock samples their sizes every second, so that `logs
// --since` and `--timestamps` can map times to file offsets to within about
// a second.

const (
	logSampleEvery = time.Second
	maxLogMarks    = 2048 // per file; older marks are thinned beyond this
)

// logMark says the file had size bytes at time at.
type logMark struct {
	at   time.Time
	size int64
}

// logMarks is the growth history of one log file: marks where the size
// changed, in order, and when the size was last seen.
type logMarks struct {
	marks    []logMark
	lastSeen time.Time
}

type logClock struct {
	mu    sync.Mutex
	files map[string]*logMarks
}

// observe records that path had size at now. born is the earliest time its
// content can date from (the instance start), used on first sight.
func (c *logClock) observe(path string, size int64, now, born time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*logMarks{}
	}
	m := c.files[path]
	if m == nil {
		m = &logMarks{}
		if size > 0 && !born.IsZero() && born.Before(now) {
			m.marks = append(m.marks, logMark{at: born, size: 0})
		}
		c.files[path] = m
	}
	if n := len(m.marks); n == 0 || m.marks[n-1].size != size {
		m.marks = append(m.marks, logMark{at: now, size: size})
	}
	m.lastSeen = now
	if len(m.marks) > maxLogMarks {
		// Keep the newer half exact; keep every other of the older half.
		half := len(m.marks) / 2
		thin := m.marks[:0:0]
		for i := 0; i < half; i += 2 {
			thin = append(thin, m.marks[i])
		}
		m.marks = append(thin, m.marks[half:]...)
	}
}

// forget drops every file not in keep.
func (c *logClock) forget(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.files {
		if !keep[p] {
			delete(c.files, p)
		}
	}
}

// offsetSince is the size path had at the latest known moment not after t:
// output past it was written after about t. 0 when nothing is known that
// early (everything may be newer).
func (c *logClock) offsetSince(path string, t time.Time) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.files[path]
	if m == nil || len(m.marks) == 0 {
		return 0
	}
	last := m.marks[len(m.marks)-1]
	if !m.lastSeen.After(t) {
		return last.size
	}
	var off int64
	for _, mk := range m.marks {
		if mk.at.After(t) {
			break
		}
		off = mk.size
	}
	return off
}

// timeAt is when the byte at offset off of path was first seen written;
// zero when not yet sampled.
func (c *logClock) timeAt(path string, off int64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.files[path]
	if m == nil {
		return time.Time{}
	}
	for _, mk := range m.marks {
		if mk.size > off {
			return mk.at
		}
	}
	return time.Time{}
}

// sampleLogs feeds the log clock until ctx ends.
func (k *Kubelet) sampleLogs(ctx context.Context) {
	tick := time.NewTicker(logSampleEvery)
	defer tick.Stop()
	for {
		k.sampleLogsOnce(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *Kubelet) sampleLogsOnce(now time.Time) {
	type file struct {
		path string
		born time.Time
	}
	var files []file
	k.mu.Lock()
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	for _, w := range workers {
		w.mu.Lock()
		for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
			var born time.Time
			if c.inst != nil {
				born = c.inst.started
			}
			// The current (or last) instance, and the one before it.
			files = append(files, file{w.logPath(c.spec.Name, c.restarts), born})
			if c.restarts > 0 {
				files = append(files, file{path: w.logPath(c.spec.Name, c.restarts-1)})
			}
		}
		w.mu.Unlock()
	}
	keep := map[string]bool{}
	for _, f := range files {
		st, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		keep[f.path] = true
		at := now
		if f.born.IsZero() && st.ModTime().Before(now) {
			at = st.ModTime() // a finished instance: nothing newer than its last write
		}
		k.logClock.observe(f.path, st.Size(), at, f.born)
	}
	k.logClock.forget(keep)
}

// lineStart moves off back to the start of the line it falls in.
func lineStart(f *os.File, off int64) int64 {
	const chunk = 4096
	buf := make([]byte, chunk)
	for pos := off; pos > 0; {
		start := max(pos-chunk, 0)
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return off
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1
		}
		pos = start
	}
	return 0
}

// stampReader prefixes every line of r (which starts at offset off of the
// log at path) with the RFC 3339 time the line was written.
type stampReader struct {
	r       io.ReadCloser
	clock   *logClock
	path    string
	off     int64
	atStart bool
	pending []byte
	buf     []byte
}

func newStampReader(r io.ReadCloser, clock *logClock, path string, off int64) *stampReader {
	return &stampReader{r: r, clock: clock, path: path, off: off, atStart: true, buf: make([]byte, 16*1024)}
}

func (s *stampReader) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		n, err := s.r.Read(s.buf)
		if n > 0 {
			s.pending = s.stamp(s.buf[:n])
		}
		if err != nil && len(s.pending) == 0 {
			return 0, err
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (s *stampReader) stamp(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		if s.atStart {
			at := s.clock.timeAt(s.path, s.off)
			if at.IsZero() {
				at = time.Now() // written since the last sample
			}
			out = at.UTC().AppendFormat(out, time.RFC3339Nano)
			out = append(out, ' ')
			s.atStart = false
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b...)
			s.off += int64(len(b))
			break
		}
		out = append(out, b[:i+1]...)
		s.off += int64(i + 1)
		b = b[i+1:]
		s.atStart = true
	}
	return out
}

func (s *stampReader) Close() error { return s.r.Close() }
