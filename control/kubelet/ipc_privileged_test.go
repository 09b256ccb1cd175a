package kubelet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/internal/nstest"
)

// The containers of a pod share one IPC namespace and one /dev/shm: a file
// one writes to /dev/shm is seen by the other, and both tasks are in the
// same IPC namespace, not the node's. They share one UTS namespace too,
// whose hostname is the pod's name.
func TestPrivilegedPodSharesIPC(t *testing.T) {
	nstest.RequirePrivileged(t)
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	env := newKubeletEnv(t, client)
	startKubelet(t, env.cfg)

	pod := testPod("ipc", "77777777-2222-3333-4444-555555555555")
	pod.Spec.Containers = []v1.Container{
		{Name: "writer", Image: "skiff/testapp:v1", ImagePullPolicy: v1.PullNever, Command: []string{"sh", "-c", "echo shared > /dev/shm/x; sleep 1000"}},
		{Name: "reader", Image: "skiff/testapp:v1", ImagePullPolicy: v1.PullNever, Command: []string{"sh", "-c", "sleep 1000"}},
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, client, "ipc", "Ready", 30*time.Second, podReady)
	ctx := context.Background()
	ctrs, err := env.ctrd.Client().Containers(ctx, fmt.Sprintf("labels.%q==%s", labelPodUID, pod.UID))
	if err != nil || len(ctrs) != 2 {
		t.Fatalf("containers of the pod: %d %v", len(ctrs), err)
	}
	var ns, uts []string
	for _, c := range ctrs {
		task, err := c.Task(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/uts", task.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		uts = append(uts, u)
		out, err := exec.Command("nsenter", "-t", fmt.Sprint(task.Pid()), "-u", "hostname").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ipc" {
			t.Fatalf("hostname in container %s: %q %v; want the pod's name", c.ID(), out, err)
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", task.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, link)
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(fmt.Sprintf("/proc/%d/root", task.Pid()), "dev/shm/x"))
			if err == nil && string(b) == "shared\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("container %s does not see /dev/shm/x: %q %v", c.ID(), b, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	self, _ := os.Readlink("/proc/1/ns/ipc") // the node's, whatever thread runs this
	if ns[0] != ns[1] || ns[0] == self {
		t.Fatalf("IPC namespaces %v (node %s): want one shared, not the node's", ns, self)
	}
	if nodeUTS, _ := os.Readlink("/proc/1/ns/uts"); uts[0] != uts[1] || uts[0] == nodeUTS {
		t.Fatalf("UTS namespaces %v (node %s): want one shared, not the node's", uts, nodeUTS)
	}
	// Deleting the pod releases the namespace and /dev/shm mounts.
	dir := filepath.Join(env.dataDir, "pods", string(pod.UID))
	if err := client.CoreV1().Pods("default").Delete(ctx, "ipc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod directory %s still there after deletion", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
