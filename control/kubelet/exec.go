package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ctrd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilexec "k8s.io/utils/exec"
)

// TermSize is a terminal size in characters.
type TermSize struct {
	Width, Height uint16
}

// Streams are the client's ends of an exec or attach session.
type Streams struct {
	// Stdin, when set, is copied to the process; its EOF closes the
	// process's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With TTY
	// everything goes to Stdout.
	Stdout, Stderr io.Writer
	// TTY allocates a terminal for the process.
	TTY bool
	// Resize carries terminal size changes (TTY only); may be nil.
	Resize <-chan TermSize
}

// execIOIdle is how long Exec keeps waiting for output after the process
// exited while nothing arrives (a background child may hold stdout open).
const execIOIdle = 2 * time.Second

// runningInstance finds the running instance of container in pod ns/name.
// Errors are Status errors: 404 for an unknown pod, 400 for an unknown or
// not running container.
func (k *Kubelet) runningInstance(ns, name, container string) (*instance, error) {
	w := k.worker(ns, name)
	if w == nil {
		return nil, apierrors.NewNotFound(podsResource, name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var c *ctrState
	for _, cs := range append(append([]*ctrState{}, w.inits...), w.ctrs...) {
		if cs.spec.Name == container || container == "" && len(w.ctrs) == 1 && !cs.init {
			c = cs
		}
	}
	switch {
	case c == nil && container == "":
		return nil, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", name))
	case c == nil:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, name))
	case c.inst == nil:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not running in pod %s; wait until it is Running (kubectl get pod %s)", c.spec.Name, name, name))
	}
	return c.inst, nil
}

// CheckRunning reports, as a Status error, why container of pod ns/name
// cannot be exec'd into or attached to, or nil when it runs.
func (k *Kubelet) CheckRunning(ns, name, container string) error {
	_, err := k.runningInstance(ns, name, container)
	return err
}

// Exec runs cmd in the running container of pod ns/name, the way the
// container's own process runs (environment, working directory, user),
// connected to s. A non-zero exit is returned as a k8s.io/utils/exec
// ExitError carrying the code; ending ctx kills the process.
func (k *Kubelet) Exec(ctx context.Context, ns, name, container string, cmd []string, s Streams) error {
	if len(cmd) == 0 {
		return apierrors.NewBadRequest("exec needs a command: pass it after -- (kubectl exec POD -- CMD)")
	}
	inst, err := k.runningInstance(ns, name, container)
	if err != nil {
		return err
	}
	spec, err := inst.ctr.Spec(ctx)
	if err != nil {
		return fmt.Errorf("read spec of container %s: %w", inst.id, err)
	}
	if spec.Process == nil {
		return fmt.Errorf("container %s has no process spec", inst.id)
	}
	p := *spec.Process
	p.Args = cmd
	p.Terminal = s.TTY
	p.Env = append([]string{}, p.Env...)
	if s.TTY && !hasEnv(p.Env, "TERM") {
		p.Env = append(p.Env, "TERM=xterm")
	}

	// kubectl sends the terminal's size right after connecting: start the
	// process with it so that it never sees a 0x0 terminal.
	if s.TTY && s.Resize != nil {
		select {
		case sz, ok := <-s.Resize:
			if ok && sz.Width > 0 && sz.Height > 0 {
				p.ConsoleSize = &specs.Box{Width: uint(sz.Width), Height: uint(sz.Height)}
			}
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	started := make(chan struct{})
	stdinEOF := make(chan struct{})
	out := &activityWriter{}
	out.touch()
	var opts []cio.Opt
	var stdin io.Reader
	if s.Stdin != nil {
		stdin = &eofNotifier{r: s.Stdin, eof: stdinEOF}
	}
	opts = append(opts, cio.WithStreams(stdin, out.wrap(s.Stdout), out.wrap(s.Stderr)))
	if s.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err := inst.task.Exec(ctx, newExecID(), &p, cio.NewCreator(opts...))
	if err != nil {
		return fmt.Errorf("create exec process: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = proc.Delete(dctx, ctrd.WithProcessKill)
	}()
	exitCh, err := proc.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("wait for exec process: %w", err)
	}
	// Size changes and the end of stdin are applied once the process runs.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if s.TTY && s.Resize != nil {
		go func() {
			for {
				select {
				case <-bg.Done():
					return
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					select {
					case <-started:
					case <-bg.Done():
						return
					}
					if err := proc.Resize(bg, uint32(sz.Width), uint32(sz.Height)); err != nil {
						k.log.Debug("resize exec terminal", "err", err)
					}
				}
			}
		}()
	}
	if stdin != nil {
		go func() {
			select {
			case <-stdinEOF:
			case <-bg.Done():
				return
			}
			select {
			case <-started:
			case <-bg.Done():
				return
			}
			if err := proc.CloseIO(bg, ctrd.WithStdinCloser); err != nil {
				k.log.Debug("close exec stdin", "err", err)
			}
		}()
	}
	if err := proc.Start(ctx); err != nil {
		return fmt.Errorf("start %q in container %s: %w", cmd[0], container, err)
	}
	close(started)
	var st ctrd.ExitStatus
	select {
	case st = <-exitCh:
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return fmt.Errorf("exec %q ended: %w", cmd[0], ctx.Err())
	}
	code, _, err := st.Result()
	if err != nil {
		return fmt.Errorf("exec process result: %w", err)
	}
	waitIO(ctx, proc.IO(), out)
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: int(code)}
	}
	return nil
}

// waitIO waits until the process output is copied out, or until no output
// arrived for execIOIdle.
func waitIO(ctx context.Context, pio cio.IO, out *activityWriter) {
	if pio == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		pio.Wait()
		close(done)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if out.idle() > execIOIdle {
				return
			}
		}
	}
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

func newExecID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "exec-" + hex.EncodeToString(b)
}

// eofNotifier closes eof once r returns an error (EOF included).
type eofNotifier struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// activityWriter records when output last passed through writers it wraps.
type activityWriter struct {
	last atomic.Int64
}

func (a *activityWriter) touch() { a.last.Store(time.Now().UnixNano()) }

func (a *activityWriter) idle() time.Duration {
	return time.Since(time.Unix(0, a.last.Load()))
}

func (a *activityWriter) wrap(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return writerFunc(func(p []byte) (int, error) {
		a.touch()
		n, err := w.Write(p)
		a.touch()
		return n, err
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
