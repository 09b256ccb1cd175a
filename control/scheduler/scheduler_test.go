package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func nextEvent(t *testing.T, h *harness) string {
	t.Helper()
	var ev string
	waitFor(t, "an event", func() bool {
		select {
		case ev = <-h.recorder.Events:
			return true
		default:
			return false
		}
	})
	return ev
}

func TestUnschedulableEventThenRetryOnNodeAdd(t *testing.T) {
	unreachable := func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: taintUnreachable, Effect: v1.TaintEffectNoExecute}}
	}
	h := startScheduler(t, 10,
		mkNode("n1", "1", "4Gi", 110, unreachable),
		mkNode("n2", "1", "4Gi", 110),
		mkNode("n3", "1", "4Gi", 110),
		mkPod("big", "2", "1Gi"),
	)
	ev := nextEvent(t, h)
	want := "Warning FailedScheduling 0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu."
	if ev != want {
		t.Fatalf("event = %q\nwant    %q", ev, want)
	}
	if p := getPod(t, h.cs, "big"); p.Spec.NodeName != "" {
		t.Fatalf("pod bound to %q although nothing fits", p.Spec.NodeName)
	}
	waitFor(t, "PodScheduled=False condition", func() bool {
		for _, c := range getPod(t, h.cs, "big").Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable && c.Message == want[len("Warning FailedScheduling "):] {
				return true
			}
		}
		return false
	})
	// A node that fits appears: the parked pod is retried and bound.
	if _, err := h.cs.CoreV1().Nodes().Create(context.Background(), mkNode("n4", "4", "8Gi", 110), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "binding to n4", func() bool { return getPod(t, h.cs, "big").Spec.NodeName == "n4" })
	for {
		ev = nextEvent(t, h)
		if strings.HasPrefix(ev, "Normal Scheduled") {
			break
		}
	}
	if ev != "Normal Scheduled Successfully assigned default/big to n4" {
		t.Fatalf("event = %q", ev)
	}
}

func TestRetryWhenBoundPodDeleted(t *testing.T) {
	h := startScheduler(t, 10, mkNode("n1", "1", "4Gi", 110), mkPod("first", "800m", ""))
	waitFor(t, "first bound", func() bool { return getPod(t, h.cs, "first").Spec.NodeName == "n1" })
	if _, err := h.cs.CoreV1().Pods("default").Create(context.Background(), mkPod("second", "800m", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(nextEvent(t, h), "1 Insufficient cpu") {
	}
	if err := h.cs.CoreV1().Pods("default").Delete(context.Background(), "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second bound after first deleted", func() bool { return getPod(t, h.cs, "second").Spec.NodeName == "n1" })
}

func TestSpreadsOwnerAcrossNodes(t *testing.T) {
	objs := []runtime.Object{mkNode("a", "8", "16Gi", 110), mkNode("b", "8", "16Gi", 110), mkNode("c", "8", "16Gi", 110)}
	for i := range 6 {
		objs = append(objs, mkPod(fmt.Sprintf("web-%d", i), "100m", "64Mi", ownedBy("rs-web")))
	}
	h := startScheduler(t, 100, objs...)
	waitFor(t, "6 bindings", func() bool { return h.bound.Load() == 6 })
	per := map[string]int{}
	pods, err := h.cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		per[p.Spec.NodeName]++
	}
	if per["a"] != 2 || per["b"] != 2 || per["c"] != 2 {
		t.Fatalf("pods per node = %v, want 2 each", per)
	}
}

func TestIgnoresOtherSchedulersAndBoundPods(t *testing.T) {
	other := mkPod("other", "", "", func(p *v1.Pod) { p.Spec.SchedulerName = "someone-else" })
	h := startScheduler(t, 10, mkNode("n1", "1", "1Gi", 110), other, mkPod("mine", "", ""))
	waitFor(t, "mine bound", func() bool { return getPod(t, h.cs, "mine").Spec.NodeName == "n1" })
	if got := getPod(t, h.cs, "other").Spec.NodeName; got != "" {
		t.Fatalf("pod for another scheduler was bound to %q", got)
	}
	if h.bound.Load() != 1 {
		t.Fatalf("bindings = %d, want 1", h.bound.Load())
	}
}
