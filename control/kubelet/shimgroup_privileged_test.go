package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
	skctrd "github.com/skiffnet/skiff/node/containerd"
)

// With one shim group, the containers of different pods, and both
// containers of one pod, run under the same containerd shim.
func TestPrivilegedKubeletShimGroups(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	env := newKubeletEnv(t, client)
	env.cfg.ShimGroups = 1

	a := testPod("shim-a", "a1111111-2222-3333-4444-555555555555")
	b := testPod("shim-b", "b1111111-2222-3333-4444-555555555555")
	b.Spec.Containers = append(b.Spec.Containers, v1.Container{Name: "side", Image: "skiff/testapp:v1",
		ImagePullPolicy: v1.PullNever, Command: []string{"/bin/sh", "-c", "sleep 3600"}})
	for _, p := range []*v1.Pod{a, b} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	startKubelet(t, env.cfg)
	for _, p := range []*v1.Pod{a, b} {
		waitPod(t, client, p.Name, "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	}
	// containerd writes the shim's socket address into each task's bundle.
	address := func(uid, name string) string {
		id := containerID(uid, name, 0)
		b, err := os.ReadFile(filepath.Join(env.dataDir, "containerd", "state", "io.containerd.runtime.v2.task", skctrd.Namespace, id, "address"))
		if err != nil {
			t.Fatalf("shim address of %s: %v", name, err)
		}
		return string(b)
	}
	first := address(string(a.UID), "app")
	for _, c := range [][2]string{{string(b.UID), "app"}, {string(b.UID), "side"}} {
		if got := address(c[0], c[1]); got != first {
			t.Fatalf("container %s runs under shim %q, want the group's %q", c[1], got, first)
		}
	}
}
