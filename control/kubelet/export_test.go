package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Hooks for tests in package kubelet_test (which may import packages that
// import this one, such as node/kubeletapi).

// NewTestEnv starts a containerd, a host-playing namespace and a podnet.
func NewTestEnv(t *testing.T, client *fake.Clientset) Config {
	return newKubeletEnv(t, client).cfg
}

// StartTestKubelet runs a kubelet for the rest of the test.
func StartTestKubelet(t *testing.T, cfg Config) *Kubelet {
	startKubelet(t, cfg)
	return kubeletOf[cfg.NodeName]
}

// NewTestPod is a one-container testapp pod on node-a.
func NewTestPod(name, uid string) *v1.Pod { return testPod(name, uid) }

// WaitPod waits until cond holds for pod default/name.
func WaitPod(t *testing.T, client *fake.Clientset, name, what string, cond func(*v1.Pod) bool) *v1.Pod {
	return waitPod(t, client, name, what, 60e9, cond)
}

// PodReady reports the pod's Ready condition.
func PodReady(p *v1.Pod) bool { return podReady(p) }

// SyncBuffer is a strings.Builder safe for concurrent writes and reads.
type SyncBuffer = syncBuffer
