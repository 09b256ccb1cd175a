package podbench

import (
	"time"

	"github.com/skiffnet/skiff/bench/benchproc"
)

// cpuUse is CPU time spent so far by the machine and by the processes
// the bench watches.
type cpuUse struct{ machine, server, agent, containerd time.Duration }

// snapshotCPU reads the machine's busy CPU and that of the server, the
// agent and containerd (pid 0: not known, counted as 0).
func snapshotCPU(server, agent, containerd int) (cpuUse, error) {
	var c cpuUse
	var err error
	if c.machine, err = benchproc.MachineCPU(); err != nil {
		return c, err
	}
	for _, p := range []struct {
		pid int
		to  *time.Duration
	}{{server, &c.server}, {agent, &c.agent}, {containerd, &c.containerd}} {
		if p.pid == 0 {
			continue
		}
		if *p.to, err = benchproc.ProcessCPU(p.pid); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c cpuUse) minus(o cpuUse) cpuUse {
	return cpuUse{c.machine - o.machine, c.server - o.server, c.agent - o.agent, c.containerd - o.containerd}
}

func (c cpuUse) plus(o cpuUse) cpuUse {
	return cpuUse{c.machine + o.machine, c.server + o.server, c.agent + o.agent, c.containerd + o.containerd}
}

// perPod is c in milliseconds per pod.
func (c cpuUse) perPod(pods int) CPUShare {
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(pods) }
	return CPUShare{Machine: ms(c.machine), Server: ms(c.server), Agent: ms(c.agent), Containerd: ms(c.containerd)}
}
