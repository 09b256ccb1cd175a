package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/oci"
	v1 "k8s.io/api/core/v1"
)

// probeCheck builds the check for one probe of container c.
func (w *podWorker) probeCheck(p *v1.Probe, c *v1.Container, inst *instance, podIP string) (checkFunc, error) {
	switch {
	case p.HTTPGet != nil:
		return httpCheck(p.HTTPGet, podIP, c, w.k.dial)
	case p.TCPSocket != nil:
		return tcpCheck(p.TCPSocket, podIP, c, w.k.dial)
	case p.Exec != nil:
		cmd := p.Exec.Command
		return func(ctx context.Context) error {
			code, out, err := execIn(ctx, inst, cmd)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("command %q exited with %d: %s", cmd, code, out)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("probe of container %s names no handler (exec, httpGet, tcpSocket)", c.Name)
}

// startProbes is called with w.mu held. It runs the startup probe first, then liveness and readiness.
// Readiness failures clear Ready; liveness failures (and a startup probe
// that never passes) kill the instance, and restartPolicy decides the rest.
func (w *podWorker) startProbes(ctx context.Context, c *ctrState, inst *instance) {
	spec := c.spec
	podIP := w.podIP
	pod, field := w.pod, c.fieldPath()
	grace := int64(30)
	if w.pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *w.pod.Spec.TerminationGracePeriodSeconds
	}
	kill := func(why string, p *v1.Probe) {
		g := grace
		if p.TerminationGracePeriodSeconds != nil {
			g = *p.TerminationGracePeriodSeconds
		}
		inst.killReason.Store(why)
		w.log.Info("killing container", "container", spec.Name, "reason", why)
		go w.stopContainer(context.Background(), c, time.Duration(g)*time.Second, true)
	}
	set := func(f func()) {
		w.mu.Lock()
		if c.inst == inst {
			f()
		}
		w.mu.Unlock()
		w.poke()
	}
	// mk builds the check of probe p; each failed attempt is an Unhealthy
	// event ("Readiness probe failed: ..."), as the kubelet records them.
	mk := func(p *v1.Probe, kind string) checkFunc {
		check, err := w.probeCheck(p, &spec, inst, podIP)
		if err != nil {
			w.log.Warn("bad probe", "container", spec.Name, "err", err)
			check = func(context.Context) error { return err }
		}
		return func(ctx context.Context) error {
			err := check(ctx)
			if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				w.event(pod, field, v1.EventTypeWarning, "Unhealthy", kind+" probe failed: "+err.Error())
			}
			return err
		}
	}
	// afterStartup runs with w.mu held when locked is true.
	afterStartup := func(locked bool) {
		if p := spec.LivenessProbe; p != nil {
			go runProbe(ctx, timings(p), mk(p, "Liveness"), func(ok bool, msg string) bool {
				if !ok {
					kill("Container "+spec.Name+" failed liveness probe, will be restarted: "+msg, p)
					return true
				}
				return false
			})
		}
		if p := spec.ReadinessProbe; p != nil {
			go runProbe(ctx, timings(p), mk(p, "Readiness"), func(ok bool, msg string) bool {
				if !ok {
					w.log.Info("readiness probe failed", "container", spec.Name, "msg", msg)
				}
				set(func() { c.ready = ok })
				return false
			})
		} else if locked {
			c.ready = true
		} else {
			set(func() { c.ready = true })
		}
	}
	if p := spec.StartupProbe; p != nil {
		go runProbe(ctx, timings(p), mk(p, "Startup"), func(ok bool, msg string) bool {
			if !ok {
				kill("Container "+spec.Name+" failed startup probe, will be restarted: "+msg, p)
				return true
			}
			set(func() { c.started = true })
			afterStartup(false)
			return true
		})
		return
	}
	afterStartup(true)
}

// resourceOpts turns limits and requests into cgroup settings: memory
// limit, CPU quota over a 100 ms period, and CPU shares from requests.
func resourceOpts(c *v1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok && q.Value() > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(q.Value())))
	}
	if q, ok := c.Resources.Limits[v1.ResourceCPU]; ok && q.MilliValue() > 0 {
		const period = 100000
		quota := q.MilliValue() * period / 1000
		if quota < 1000 {
			quota = 1000
		}
		opts = append(opts, oci.WithCPUCFS(quota, period))
	}
	req, ok := c.Resources.Requests[v1.ResourceCPU]
	if !ok {
		req, ok = c.Resources.Limits[v1.ResourceCPU]
	}
	if ok {
		shares := uint64(req.MilliValue() * 1024 / 1000)
		if shares < 2 {
			shares = 2
		}
		opts = append(opts, oci.WithCPUShares(shares))
	}
	return opts
}
