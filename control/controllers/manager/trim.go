package manager

import (
	v1 "k8s.io/api/core/v1"
)

// trimPod drops from cached pods what no controller here reads: volumes,
// volume mounts, environment, commands, arguments and probes. At 10 000
// pods (each with its injected kube-api-access volume) that is a good part
// of the controller manager's memory. It is safe because no controller
// updates a pod from the cache except through pods/status, which keeps the
// stored spec; a controller that needs these fields must read the pod from
// the API instead, or this list must shrink.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return obj, nil
	}
	p.Spec.Volumes = nil
	trim := func(cs []v1.Container) {
		for i := range cs {
			c := &cs[i]
			c.VolumeMounts, c.Env, c.EnvFrom, c.Command, c.Args = nil, nil, nil, nil, nil
			c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = nil, nil, nil
		}
	}
	trim(p.Spec.InitContainers)
	trim(p.Spec.Containers)
	return p, nil
}
