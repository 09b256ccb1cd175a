package kubelet

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/internal/nstest"
)

// A hostNetwork pod runs in the node's network namespace with the node's
// hostname: no pod namespace, veth or address; its IP is the node IP.
func TestPrivilegedHostNetworkPod(t *testing.T) {
	nstest.RequirePrivileged(t)
	client := fake.NewSimpleClientset(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}})
	env := newKubeletEnv(t, client)
	startKubelet(t, env.cfg)

	pod := testPod("hostnet", "99999999-2222-3333-4444-555555555555")
	pod.Spec.HostNetwork = true
	pod.Spec.Containers[0].Args = []string{"--http-port", "18617", "--udp-port", "0"}
	pod.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 18617, HostPort: 18617}}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, client, "hostnet", "Ready", 30*time.Second, podReady)
	if got.Status.PodIP != env.cfg.NodeIP {
		t.Fatalf("hostNetwork pod IP %q, want the node IP %s", got.Status.PodIP, env.cfg.NodeIP)
	}
	// It listens in the node's namespace, on the node's address.
	code, body, err := hostGET(env.host, env.cfg.NodeIP+":18617", "/hostname")
	host, _ := os.Hostname()
	if err != nil || code != 200 || strings.TrimSpace(body) != host {
		t.Fatalf("GET /hostname in the node namespace: %d %q %v, want the node's hostname %q", code, body, err, host)
	}
	if nss, _ := podnet.ListNetNS(podnet.DefaultNetNSDir, env.prefix+"-pod-"); len(nss) != 0 {
		t.Fatalf("a hostNetwork pod got a network namespace: %v", nss)
	}
	if allocs := env.net.IPAM().ListAllocated(); len(allocs) != 0 {
		t.Fatalf("a hostNetwork pod got a pod address: %v", allocs)
	}
	// Deleting it leaves the node namespace alone.
	if err := client.CoreV1().Pods("default").Delete(context.Background(), "hostnet", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(context.Background(), 30*time.Second, 100*time.Millisecond, func() bool {
		_, err := client.CoreV1().Pods("default").Get(context.Background(), "hostnet", metav1.GetOptions{})
		return err != nil
	})
	if _, err := env.host.Run("ip", "link", "show", "lo"); err != nil {
		t.Fatalf("the node namespace is gone after deleting a hostNetwork pod: %v", err)
	}
}
