package apiserver

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Allocation keys and stored objects disagree after a crash between the
// two writes, a restore from backup, or a Node created with its own
// PodCIDR; repair claims what objects use and releases what nobody uses.
func TestRepairAllocations(t *testing.T) {
	old := leakGrace
	leakGrace = 200 * time.Millisecond
	t.Cleanup(func() { leakGrace = old })
	run := startTest(t)
	ctx := context.Background()
	c, err := kubernetes.NewForConfig(run.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cli := run.Server.Alloc.cli
	ipKey := ipPrefix + svc.Spec.ClusterIP
	portKey := portPrefix + strconv.Itoa(int(svc.Spec.Ports[0].NodePort))
	// The Service's keys are lost; a ghost holds an IP; another key says a
	// second owner holds a PodCIDR that a Node uses.
	for _, k := range []string{ipKey, portKey} {
		if _, err := cli.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	ghost := ipPrefix + "10.96.7.7"
	if _, err := cli.Put(ctx, ghost, "service:default/ghost"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.9.0/24"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, cidrPrefix+"10.244.9.0-24"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, cidrPrefix+"10.244.9.0-24", "node:other"); err != nil {
		t.Fatal(err)
	}

	rep, err := run.Server.RepairAllocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rep.Claimed, "\n")
	if !strings.Contains(joined, ipKey) || !strings.Contains(joined, portKey) {
		t.Errorf("claimed %v, want %s and %s", rep.Claimed, ipKey, portKey)
	}
	if len(rep.Leaked) != 1 || !strings.Contains(rep.Leaked[0], ghost) {
		t.Errorf("released %v, want only %s", rep.Leaked, ghost)
	}
	if len(rep.Conflicts) != 1 || !strings.Contains(rep.Conflicts[0], "node:other") {
		t.Errorf("conflicts %v, want the PodCIDR held by node:other", rep.Conflicts)
	}
	for k, want := range map[string]string{ipKey: "service:default/web", portKey: "service:default/web"} {
		r, err := cli.Get(ctx, k)
		if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != want {
			t.Errorf("%s after repair: %v %v, want owner %s", k, r, err, want)
		}
	}
	if r, _ := cli.Get(ctx, ghost); len(r.Kvs) != 0 {
		t.Errorf("ghost allocation %s still held", ghost)
	}
	// The repaired IP is not handed out again.
	_, err = c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "copy"},
		Spec:       corev1.ServiceSpec{ClusterIP: svc.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("creating a Service with the repaired IP: %v, want already allocated", err)
	}
}
