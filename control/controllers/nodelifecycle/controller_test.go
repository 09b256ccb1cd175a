package nodelifecycle

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	cs    *fake.Clientset
	c     *Controller
	clock *testingclock.FakeClock
	rec   *record.FakeRecorder
	ctx   context.Context
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	cs := fake.NewSimpleClientset(objs...)
	f := informers.NewSharedInformerFactory(cs, 0)
	clk := testingclock.NewFakeClock(t0)
	rec := record.NewFakeRecorder(100)
	c, err := New(cs, f, Options{Clock: clk, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); f.Shutdown() })
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return &env{t: t, cs: cs, c: c, clock: clk, rec: rec, ctx: ctx}
}

// settle waits until the informer caches show what the fake API holds.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e.cachesMatch() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatal("informer caches did not catch up")
}

func (e *env) cachesMatch() bool {
	nodes, _ := e.cs.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{})
	cached, _ := e.c.nodes.List(labels.Everything())
	if len(nodes.Items) != len(cached) {
		return false
	}
	for _, n := range cached {
		for i := range nodes.Items {
			if nodes.Items[i].Name == n.Name && !equality.Semantic.DeepEqual(&nodes.Items[i], n) {
				return false
			}
		}
	}
	leases, _ := e.cs.CoordinationV1().Leases(LeaseNamespace).List(e.ctx, metav1.ListOptions{})
	for i := range leases.Items {
		l, err := e.c.leases.Leases(LeaseNamespace).Get(leases.Items[i].Name)
		if err != nil || !equality.Semantic.DeepEqual(&leases.Items[i], l) {
			return false
		}
	}
	pods, _ := e.cs.CoreV1().Pods("").List(e.ctx, metav1.ListOptions{})
	return len(pods.Items) == len(e.c.pods.List())
}

func (e *env) step(d time.Duration) {
	e.t.Helper()
	e.clock.Step(d)
	e.c.monitor(e.ctx)
	e.settle()
}

func (e *env) node() *v1.Node {
	n, err := e.cs.CoreV1().Nodes().Get(e.ctx, "n1", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) podExists(name string) bool {
	_, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	return err == nil
}

func readyNode() *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{
			{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(t0)},
			{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(t0)},
		}},
	}
}

func lease(renew time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: LeaseNamespace, Name: "n1"},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &rt},
	}
}

func pod(name string, tols ...v1.Toleration) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		Spec:       v1.PodSpec{NodeName: "n1", Tolerations: tols},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{
			{Type: v1.PodReady, Status: v1.ConditionTrue},
		}},
	}
}

func secs(n int64) *int64 { return &n }

func taintKeys(n *v1.Node) map[string]bool {
	out := map[string]bool{}
	for _, t := range n.Spec.Taints {
		out[t.Key+":"+string(t.Effect)] = true
	}
	return out
}

func TestSilentNodeTaintedPodsEvictedThenRecovers(t *testing.T) {
	unreachable60 := v1.Toleration{Key: TaintUnreachable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: secs(60)}
	forever := v1.Toleration{Operator: v1.TolerationOpExists}
	e := newEnv(t, readyNode(), lease(t0), pod("default-tol"), pod("short-tol", unreachable60), pod("forever", forever))
	e.c.monitor(e.ctx)
	e.settle()

	e.step(39 * time.Second)
	if r := condition(e.node(), v1.NodeReady); r.Status != v1.ConditionTrue || len(e.node().Spec.Taints) != 0 {
		t.Fatalf("node changed before the grace period: %+v", e.node())
	}
	e.step(2 * time.Second) // 41 s without heartbeat
	n := e.node()
	if r := condition(n, v1.NodeReady); r.Status != v1.ConditionUnknown || r.Reason != reasonUnknown {
		t.Fatalf("Ready = %+v, want Unknown/%s", r, reasonUnknown)
	}
	if mp := condition(n, v1.NodeMemoryPressure); mp.Status != v1.ConditionUnknown {
		t.Fatalf("MemoryPressure = %s, want Unknown", mp.Status)
	}
	e.step(0) // taints are applied on the updated node
	keys := taintKeys(e.node())
	if !keys[TaintUnreachable+":NoExecute"] || !keys[TaintUnreachable+":NoSchedule"] || len(keys) != 2 {
		t.Fatalf("taints = %v, want unreachable NoSchedule+NoExecute", keys)
	}
	p, _ := e.cs.CoreV1().Pods("default").Get(e.ctx, "default-tol", metav1.GetOptions{})
	if p.Status.Conditions[0].Status != v1.ConditionFalse {
		t.Fatalf("pod on silent node still Ready")
	}

	e.step(59 * time.Second)
	if !e.podExists("short-tol") {
		t.Fatal("pod evicted before its 60 s toleration ran out")
	}
	e.step(2 * time.Second)
	if e.podExists("short-tol") {
		t.Fatal("pod with 60 s toleration not evicted after 61 s")
	}
	if !e.podExists("default-tol") {
		t.Fatal("pod without tolerations evicted before the default 300 s")
	}
	e.step(240 * time.Second)
	if e.podExists("default-tol") {
		t.Fatal("pod without tolerations not evicted after 300 s")
	}
	if !e.podExists("forever") {
		t.Fatal("pod tolerating forever was evicted")
	}

	// The kubelet comes back: its Lease is renewed.
	if _, err := e.cs.CoordinationV1().Leases(LeaseNamespace).Update(e.ctx, lease(e.clock.Now()), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.settle()
	e.step(time.Second)
	e.step(0)
	n = e.node()
	if r := condition(n, v1.NodeReady); r.Status != v1.ConditionTrue {
		t.Fatalf("Ready = %s after heartbeats resumed, want True", r.Status)
	}
	if len(n.Spec.Taints) != 0 {
		t.Fatalf("taints left after recovery: %v", n.Spec.Taints)
	}
	e.step(30 * time.Second)
	if r := condition(e.node(), v1.NodeReady); r.Status != v1.ConditionTrue {
		t.Fatal("node went Unknown again within the grace period after recovery")
	}
}

func TestNotReadyNodeGetsNotReadyTaint(t *testing.T) {
	n := readyNode()
	n.Status.Conditions[0].Status = v1.ConditionFalse
	n.Spec.Taints = []v1.Taint{{Key: TaintUnreachable, Effect: v1.TaintEffectNoExecute}, {Key: "keep", Effect: v1.TaintEffectNoSchedule}}
	e := newEnv(t, n, lease(t0))
	e.step(time.Second)
	keys := taintKeys(e.node())
	if !keys[TaintNotReady+":NoExecute"] || !keys[TaintNotReady+":NoSchedule"] || !keys["keep:NoSchedule"] || keys[TaintUnreachable+":NoExecute"] {
		t.Fatalf("taints = %v", keys)
	}
	for _, tn := range e.node().Spec.Taints {
		if tn.Effect == v1.TaintEffectNoExecute && tn.TimeAdded == nil {
			t.Fatal("NoExecute taint without timeAdded")
		}
	}
}

// A pressure condition taints the node NoSchedule (TaintNodesByCondition)
// until it clears; other taints stay.
func TestPressureConditionTaintsNode(t *testing.T) {
	n := readyNode()
	n.Status.Conditions[1].Status = v1.ConditionTrue // MemoryPressure
	n.Status.Conditions = append(n.Status.Conditions, v1.NodeCondition{Type: v1.NodeDiskPressure, Status: v1.ConditionTrue})
	n.Spec.Taints = []v1.Taint{{Key: "keep", Effect: v1.TaintEffectNoSchedule}}
	e := newEnv(t, n, lease(t0))
	e.step(time.Second)
	keys := taintKeys(e.node())
	if !keys[v1.TaintNodeMemoryPressure+":NoSchedule"] || !keys[v1.TaintNodeDiskPressure+":NoSchedule"] || keys[v1.TaintNodePIDPressure+":NoSchedule"] ||
		!keys["keep:NoSchedule"] || len(keys) != 3 {
		t.Fatalf("taints = %v", keys)
	}
	cur := e.node()
	cur.Status.Conditions[1].Status = v1.ConditionFalse
	if _, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.settle()
	e.step(time.Second)
	keys = taintKeys(e.node())
	if keys[v1.TaintNodeMemoryPressure+":NoSchedule"] || !keys[v1.TaintNodeDiskPressure+":NoSchedule"] || !keys["keep:NoSchedule"] || len(keys) != 2 {
		t.Fatalf("after memory pressure cleared: taints = %v", keys)
	}
}

func TestGracePeriodConfigurable(t *testing.T) {
	cs := fake.NewSimpleClientset(readyNode())
	f := informers.NewSharedInformerFactory(cs, 0)
	clk := testingclock.NewFakeClock(t0)
	c, err := New(cs, f, Options{Clock: clk, GracePeriod: 10 * time.Second, Recorder: record.NewFakeRecorder(10)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	c.monitor(ctx)
	clk.Step(11 * time.Second)
	c.monitor(ctx)
	n, _ := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if condition(n, v1.NodeReady).Status != v1.ConditionUnknown {
		t.Fatal("node not Unknown after an 11 s silence with a 10 s grace period")
	}
}
