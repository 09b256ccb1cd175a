package scheduler

import (
	v1 "k8s.io/api/core/v1"
)

// Default requests used only for scoring pods that request nothing, so that
// such pods still spread instead of piling onto the first node.
const (
	defaultMilliCPURequest int64 = 100               // 0.1 core
	defaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// resources is a compact resource vector. Extended resources (GPUs and the
// like) live in scalar.
type resources struct {
	milliCPU  int64
	memory    int64
	ephemeral int64
	pods      int64
	scalar    map[v1.ResourceName]int64
}

func (r *resources) add(o *resources) {
	r.milliCPU += o.milliCPU
	r.memory += o.memory
	r.ephemeral += o.ephemeral
	r.pods += o.pods
	for k, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[v1.ResourceName]int64{}
		}
		r.scalar[k] += v
	}
}

func (r *resources) sub(o *resources) {
	r.milliCPU -= o.milliCPU
	r.memory -= o.memory
	r.ephemeral -= o.ephemeral
	r.pods -= o.pods
	for k, v := range o.scalar {
		if r.scalar != nil {
			r.scalar[k] -= v
		}
	}
}

func (r *resources) setMax(o *resources) {
	r.milliCPU = max(r.milliCPU, o.milliCPU)
	r.memory = max(r.memory, o.memory)
	r.ephemeral = max(r.ephemeral, o.ephemeral)
	for k, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[v1.ResourceName]int64{}
		}
		r.scalar[k] = max(r.scalar[k], v)
	}
}

func fromList(l v1.ResourceList) resources {
	var r resources
	for name, q := range l {
		switch name {
		case v1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case v1.ResourceMemory:
			r.memory = q.Value()
		case v1.ResourceEphemeralStorage:
			r.ephemeral = q.Value()
		case v1.ResourcePods:
			r.pods = q.Value()
		default:
			if isExtended(name) {
				if r.scalar == nil {
					r.scalar = map[v1.ResourceName]int64{}
				}
				r.scalar[name] = q.Value()
			}
		}
	}
	return r
}

// isExtended reports whether a resource name is a countable extended resource
// (vendor-domain names such as nvidia.com/gpu, or hugepages).
func isExtended(name v1.ResourceName) bool {
	s := string(name)
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return len(s) > 10 && s[:10] == "hugepages-"
}

// podRequests is what a pod needs from a node: the sum over its containers,
// at least the largest init container, plus pod overhead; it always takes one
// pod slot. nonzeroCPU/nonzeroMem are the same with per-container defaults for
// containers that request nothing, for scoring.
func podRequests(pod *v1.Pod) (req resources, nonzeroCPU, nonzeroMem int64) {
	var sum resources
	for i := range pod.Spec.Containers {
		c := fromList(pod.Spec.Containers[i].Resources.Requests)
		sum.add(&c)
		nonzeroCPU += orDefault(c.milliCPU, defaultMilliCPURequest)
		nonzeroMem += orDefault(c.memory, defaultMemoryRequest)
	}
	var initMax resources
	var initCPU, initMem int64
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		c := fromList(ic.Resources.Requests)
		if ic.RestartPolicy != nil && *ic.RestartPolicy == v1.ContainerRestartPolicyAlways {
			// Sidecars run alongside the app containers.
			sum.add(&c)
			nonzeroCPU += orDefault(c.milliCPU, defaultMilliCPURequest)
			nonzeroMem += orDefault(c.memory, defaultMemoryRequest)
			continue
		}
		initMax.setMax(&c)
		initCPU = max(initCPU, orDefault(c.milliCPU, defaultMilliCPURequest))
		initMem = max(initMem, orDefault(c.memory, defaultMemoryRequest))
	}
	sum.setMax(&initMax)
	nonzeroCPU = max(nonzeroCPU, initCPU)
	nonzeroMem = max(nonzeroMem, initMem)
	if pod.Spec.Overhead != nil {
		o := fromList(pod.Spec.Overhead)
		sum.add(&o)
		nonzeroCPU += o.milliCPU
		nonzeroMem += o.memory
	}
	sum.pods = 1
	return sum, nonzeroCPU, nonzeroMem
}

func orDefault(v, d int64) int64 {
	if v == 0 {
		return d
	}
	return v
}
