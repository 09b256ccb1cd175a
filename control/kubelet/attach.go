package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Attach connects s to the running container of pod ns/name: the output
// the instance writes from now on goes to s.Stdout (or s.Stderr when no
// Stdout was requested; the log file merges both streams, and a terminal
// has only one), and, when the container has spec.stdin and was started
// with a stdin FIFO (taskIO), s.Stdin is copied to the container's stdin
// (its terminal, with spec.tty). For a container with spec.tty, size
// changes on s.Resize resize its terminal. With spec.stdinOnce the end of
// the first session's stdin closes the container's stdin. Output is read
// back from the log file, so any number of sessions, or none, never hold
// the container up. It returns when the instance exits, the client's
// output stream fails, or ctx ends.
func (k *Kubelet) Attach(ctx context.Context, ns, name, container string, s Streams) error {
	w, inst, spec, restart, err := k.attachTarget(ns, name, container, s.Stdin != nil)
	if err != nil {
		return err
	}
	out := s.Stdout
	if out == nil {
		out = s.Stderr
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.Resize != nil {
		go k.applyResizes(ctx, inst, spec.TTY, s.Resize)
	}
	// Output first, from the current end, so that replies to the input
	// are not missed.
	var logf *os.File
	if out != nil {
		if logf, err = os.Open(w.logPath(spec.Name, restart)); err != nil {
			return apierrors.NewNotFound(podsResource, name+"/"+spec.Name+" log")
		}
		defer logf.Close()
		if _, err := logf.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	}
	stdinErr := make(chan error, 1)
	if s.Stdin != nil {
		f, err := openStdin(w.stdinFIFO(spec.Name, restart))
		if err != nil {
			return fmt.Errorf("container %s has no stdin pipe (%v); restart the pod to attach to its stdin", spec.Name, err)
		}
		go func() {
			_, err := io.Copy(f, s.Stdin)
			f.Close()
			if spec.StdinOnce && inst.stdinClosed.CompareAndSwap(false, true) {
				if err := inst.task.CloseIO(context.WithoutCancel(ctx), ctrd.WithStdinCloser); err != nil {
					k.log.Debug("close container stdin after attach (stdinOnce)", "err", err)
				}
			}
			stdinErr <- err
		}()
	}
	if out == nil {
		// Input only: end with the instance, the client or ctx.
		select {
		case <-inst.done:
		case <-ctx.Done():
		case <-stdinErr:
		}
		return nil
	}
	_, err = io.Copy(out, &liveReader{ctx: ctx, f: logf, done: inst.done})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("copy container output: %w", err)
	}
	return nil
}

// applyResizes resizes the terminal of inst (when it has one) to each size
// on sizes until ctx ends or sizes closes.
func (k *Kubelet) applyResizes(ctx context.Context, inst *instance, tty bool, sizes <-chan TermSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			if !tty || sz.Width == 0 || sz.Height == 0 {
				continue // no terminal to resize, or nothing to apply
			}
			if err := inst.task.Resize(ctx, uint32(sz.Width), uint32(sz.Height)); err != nil {
				k.log.Debug("resize container terminal", "id", inst.id, "err", err)
			}
		}
	}
}

// liveReader follows a log file for an attach session until done closes
// or ctx ends. It checks for new output within milliseconds while output
// flows and backs off to liveMaxWait when idle, so a terminal session
// feels immediate without a busy loop.
type liveReader struct {
	ctx  context.Context
	f    *os.File
	done <-chan struct{}
	wait time.Duration
	// after done: when to stop waiting for the logger's last writes
	deadline time.Time
}

const (
	liveMinWait = 5 * time.Millisecond
	liveMaxWait = 100 * time.Millisecond
	// liveTail is how long output may still reach the log after the
	// instance's exit is recorded (the TTY logger is a separate process).
	liveTail = 300 * time.Millisecond
)

func (r *liveReader) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 {
			r.wait = 0
			return n, nil
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
		if !r.deadline.IsZero() && time.Now().After(r.deadline) {
			return 0, io.EOF
		}
		r.wait = min(max(2*r.wait, liveMinWait), liveMaxWait)
		t := time.NewTimer(r.wait)
		select {
		case <-r.done:
			if r.deadline.IsZero() {
				r.deadline = time.Now().Add(liveTail)
				r.wait = 0
			}
			r.done = nil // a nil channel: wait on the timer from now on
			<-t.C
		case <-r.ctx.Done():
			t.Stop()
			return 0, io.EOF
		case <-t.C:
		}
	}
}

// CheckAttach reports, as a Status error, why attaching to container of
// pod ns/name (with stdin when stdin is set) cannot start, or nil.
func (k *Kubelet) CheckAttach(ns, name, container string, stdin bool) error {
	_, _, _, _, err := k.attachTarget(ns, name, container, stdin)
	return err
}

// attachTarget finds the running instance to attach to, its spec and
// instance number; stdin is refused for containers without spec.stdin or
// without a stdin FIFO.
func (k *Kubelet) attachTarget(ns, name, container string, stdin bool) (*podWorker, *instance, v1.Container, int32, error) {
	var spec v1.Container
	w := k.worker(ns, name)
	if w == nil {
		return nil, nil, spec, 0, apierrors.NewNotFound(podsResource, name)
	}
	inst, err := k.runningInstance(ns, name, container)
	if err != nil {
		return nil, nil, spec, 0, err
	}
	var restart int32
	w.mu.Lock()
	for _, c := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if c.inst == inst {
			spec, restart = c.spec, c.restarts
		}
	}
	w.mu.Unlock()
	if stdin {
		if !spec.Stdin {
			return nil, nil, spec, 0, apierrors.NewBadRequest(fmt.Sprintf("container %s of pod %s does not accept stdin: set stdin: true in its spec, or attach without -i", spec.Name, name))
		}
		if inst.stdinClosed.Load() {
			return nil, nil, spec, 0, apierrors.NewBadRequest(fmt.Sprintf("container %s of pod %s has stdinOnce and an earlier attach session already closed its stdin; attach without -i, or restart the pod", spec.Name, name))
		}
		if st, err := os.Stat(w.stdinFIFO(spec.Name, restart)); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			return nil, nil, spec, 0, apierrors.NewBadRequest(fmt.Sprintf("container %s of pod %s was started without a stdin pipe; delete the pod to recreate it, or attach without -i", spec.Name, name))
		}
	}
	return w, inst, spec, restart, nil
}

// openStdin opens the write end of a running container's stdin FIFO. It
// fails at once when no shim holds the read end.
func openStdin(fifo string) (*os.File, error) {
	f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// Blocking writes from here on: the container reads at its pace.
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// stdinFIFO is where the stdin FIFO of instance restart of a container lives.
func (w *podWorker) stdinFIFO(name string, restart int32) string {
	return filepath.Join(w.dir, "stdin", name, strconv.Itoa(int(restart)))
}

// taskIO returns the IO for a new instance: output appended to logFile
// (through the TTY logger for containers with spec.tty, tty.go) and, for
// containers with spec.stdin, a stdin FIFO that Attach writes to. It is
// meant for container.go's NewTask call:
//
//	task, err := ctr.NewTask(ctx, w.taskIO(&c.spec, restart, logFile))
func (w *podWorker) taskIO(spec *v1.Container, restart int32, logFile string) cio.Creator {
	var fifo string
	if spec.Stdin {
		fifo = w.stdinFIFO(spec.Name, restart)
	}
	switch {
	case spec.TTY:
		return ttyIO(fifo, logFile)
	case fifo == "":
		return cio.LogFile(logFile)
	}
	return stdinLogIO(fifo, logFile)
}

// stdinLogIO is cio.LogFile plus a stdin FIFO at fifo. The shim keeps its
// own write end open, so the container sees EOF only on CloseIO.
func stdinLogIO(fifo, logFile string) cio.Creator {
	return func(string) (cio.IO, error) {
		uri, err := cio.LogURIGenerator("file", logFile, nil)
		if err != nil {
			return nil, err
		}
		if err := makeFIFO(fifo); err != nil {
			return nil, err
		}
		return &fileIO{cfg: cio.Config{Stdin: fifo, Stdout: uri.String(), Stderr: uri.String()}}, nil
	}
}

// fileIO is an IO whose copying is all done by the shim.
type fileIO struct{ cfg cio.Config }

func (f *fileIO) Config() cio.Config { return f.cfg }
func (f *fileIO) Cancel()            {}
func (f *fileIO) Wait()              {}
func (f *fileIO) Close() error       { return nil }
