package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Attach connects s to the running container of pod ns/name: the output
// the instance writes from now on goes to s.Stdout (or s.Stderr when no
// Stdout was requested; the log file merges both streams), and, when the
// container has spec.stdin and was started with a stdin FIFO (taskIO),
// s.Stdin is copied to the container's stdin. It returns when the instance
// exits, the client's output stream fails, or ctx ends. TTY and resize are
// ignored: containers run without a terminal.
func (k *Kubelet) Attach(ctx context.Context, ns, name, container string, s Streams) error {
	w, inst, spec, restart, err := k.attachTarget(ns, name, container, s.Stdin != nil)
	if err != nil {
		return err
	}
	out := s.Stdout
	if out == nil {
		out = s.Stderr
	}
	// Drain resize events nobody applies so the sender never blocks.
	if s.Resize != nil {
		go func() {
			for range s.Resize {
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
			if spec.StdinOnce {
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
	_, err = io.Copy(out, &followReader{ctx: ctx, f: logf, done: inst.done})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("copy container output: %w", err)
	}
	return nil
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

// taskIO returns the IO for a new instance: output appended to logFile and,
// for containers with spec.stdin, a stdin FIFO that Attach writes to. It is
// meant for container.go's NewTask call:
//
//	task, err := ctr.NewTask(ctx, w.taskIO(&c.spec, restart, logFile))
func (w *podWorker) taskIO(spec *v1.Container, restart int32, logFile string) cio.Creator {
	if !spec.Stdin {
		return cio.LogFile(logFile)
	}
	return stdinLogIO(w.stdinFIFO(spec.Name, restart), logFile)
}

// stdinLogIO is cio.LogFile plus a stdin FIFO at fifo. The shim keeps its
// own write end open, so the container sees EOF only on CloseIO.
func stdinLogIO(fifo, logFile string) cio.Creator {
	return func(string) (cio.IO, error) {
		uri, err := cio.LogURIGenerator("file", logFile, nil)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(fifo), 0o700); err != nil {
			return nil, err
		}
		_ = os.Remove(fifo)
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			return nil, fmt.Errorf("create stdin fifo %s: %w", fifo, err)
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
